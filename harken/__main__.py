from harken.cli.app import main

main()
