"""The running relay (`im2mail run`): one asyncio process.

loop.py owns the lifecycle (initialize → start → run → shutdown, signals, sd_notify) and
wires the rest: web.py (the HTTP server: webhooks, file links, transcripts, /healthz),
intake.py (a customer's update → archive → mail outbox) with downloads.py, polling.py and
pacing.py (a poll waits while the mail is far behind), reply_intake.py (a manager's email
→ archive → chat outbox), chat_outbox.py (replies to the messengers), mailer.py (which
email an outbox row becomes), alerts.py (reminders and the daily digest), retention.py
(archive.keep_messages_days), flood.py and blocking.py (abusive customers), via.py (a
reply's `/via NAME` line), hours, quick replies and transcripts.
"""
