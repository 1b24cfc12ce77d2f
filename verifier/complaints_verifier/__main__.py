"""`python -m complaints_verifier`: the same as `complaints-verify`."""

import sys

from complaints_verifier.verify import main

sys.exit(main())
