from . import test_menus
from . import test_billing_lines
