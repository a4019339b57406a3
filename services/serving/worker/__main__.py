"""`python -m services.serving.worker`."""

from services.serving.worker.main import main

main()
