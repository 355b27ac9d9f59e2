"""Composition root, CLI, settings, the console channel and the dispatcher."""
