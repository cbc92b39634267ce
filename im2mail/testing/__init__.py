"""Stand-ins for the outside world, shipped with im2mail: `im2mail demo` runs the whole
round trip against them, and the test suite uses them too. Nothing here is imported by
the relay itself."""
