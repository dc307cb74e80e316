"""`python -m aiml_mock ...`: the `aiml-mock` command, for environments without its script on the PATH."""

from aiml_mock.hosting.cli import main

raise SystemExit(main())
