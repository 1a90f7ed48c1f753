import sys

from davserver.cli import main

sys.exit(main())
