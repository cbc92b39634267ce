"""Reply extraction's rules, one concern a module; mail/replies.py's extract() runs them.

- reply_shapes.py: where quoted history starts in a plain-text reply, by its shape (">"
  blocks, attributions, header blocks, separators), in any language; footers.py: client
  footers ("Sent from my iPhone" in any language); added_blocks.py: what a server or a
  program stamps on the mail (a label's marking, an antivirus's tag); pasted_quotes.py: a
  quotation the manager pasted into the answer; helpdesk_comment.py: a helpdesk
  notification's comment.
- reply_html.py: an HTML reply as text (quote and signature containers, what the client
  hides, lists, tables, links); reply_css.py: the inline CSS it reads.
- quoted_history.py: the thread's own text as ground truth (our emails' words); signatures.py:
  signatures learned per manager, marked by the HTML, or typed on a first reply.
- reply_parts.py: the MIME parts (decoding, split bodies, a gateway's wrapper);
  charsets.py, invisible.py, enriched.py, flowed.py (RFC 3676), transfer_encoding.py:
  reading the text right; envelopes.py: signed, encrypted and winmail.dat mail;
  alternatives.py and rewrap.py: what the text/plain and HTML alternatives tell each other.
"""
