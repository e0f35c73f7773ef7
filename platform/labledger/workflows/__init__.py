"""The state-machine engine: workflows as data, transitions, guards, signatures, actions."""
