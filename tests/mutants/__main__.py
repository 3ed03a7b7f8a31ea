"""`python -m tests.mutants [NN_topic ...]`: hidden-test strength and integrity tables (markdown)."""

import sys

from tests.mutants import main

sys.exit(main())
