import sys

from alignrec.cli import main

sys.exit(main())
