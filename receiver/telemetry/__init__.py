"""What the receiver tells about itself: metrics on an injected registry, JSON log lines."""
