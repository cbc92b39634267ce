"""One module per registered channel, named as the channel: `rig(files)` starts its double
and its bot (see tests/contract/kit.py)."""
