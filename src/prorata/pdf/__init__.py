"""PDF writers and fonts. Worker only: the web process never imports it."""
