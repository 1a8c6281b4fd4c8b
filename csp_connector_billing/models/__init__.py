from . import csp_connection
from . import csp_subscription
from . import contract
from . import contract_line
from . import product_template
from . import csp_billing_adjustment
from . import csp_subscription_change
from . import csp_billing_reconciliation
