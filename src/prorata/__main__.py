import sys

from prorata.cli import main

sys.exit(main())
