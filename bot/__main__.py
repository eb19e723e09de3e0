from seedbot.cli import main

main()
