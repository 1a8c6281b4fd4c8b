from . import test_menus
from . import test_billing_lines
from . import test_billing_adjustments
from . import test_billing_access
from . import test_billing_lifecycle
from . import test_billing_create_contracts
