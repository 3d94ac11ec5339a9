"""Platform adapters. Each sub-package is a small Django app; the core never imports them."""
