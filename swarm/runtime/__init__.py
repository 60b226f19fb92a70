"""The async runtime: the driver that turns core decisions into workers and store writes."""
