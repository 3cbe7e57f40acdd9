"""``python -m motionzoo`` is the ``motionzoo`` command."""

from motionzoo.cli import main

main()
