"""Network families shared by every method, registered by name (``model.arch``)."""
