"""`make demo`: the seed's e-commerce incident replayed on a real local stack (see docs/demo.md)."""
