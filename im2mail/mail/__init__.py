"""The mailbox side: chat to email (compose), email to reply, sending, watching."""
