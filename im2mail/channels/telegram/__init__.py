"""The Telegram channel: channel.py (the Channel: API calls, webhook, sends, downloads)
over parse.py (its updates turned into model values, and its send plans)."""
