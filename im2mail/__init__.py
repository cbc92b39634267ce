"""im2mail: a bridge between a shop's messenger bots and its sales mailbox."""

__version__ = "0.1.0"
