"""The local stack: the event pump and what runs the app outside AWS."""
