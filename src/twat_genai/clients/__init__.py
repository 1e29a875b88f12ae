"""The provider clients and one-call functions: thin faces over the one execution path."""
