"""History from before im2mail: telegram_export.py reads a Telegram Desktop JSON export
(streamed), telegram_import.py loads it into the archive, idempotently."""
