"""The Trygg edge agent that runs on a Raspberry Pi on a pole."""
