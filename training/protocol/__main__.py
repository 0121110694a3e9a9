from training.protocol.cli import main

main()
