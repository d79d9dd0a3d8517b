import sys

from chanwatch.cli import main

sys.exit(main())
