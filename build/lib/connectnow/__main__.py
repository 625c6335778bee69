from connectnow.cli import main

main()
