"""The generic record store: create, update, read and list records of any type."""
