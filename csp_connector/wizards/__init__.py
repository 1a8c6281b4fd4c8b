from . import csp_licence_assign
from . import csp_subscription_quantity
