"""Command-argument parsing: the text a moderator or member typed, turned into the plain
values the services take. Telegram-free; the adapter and the guided dialogs call it."""
