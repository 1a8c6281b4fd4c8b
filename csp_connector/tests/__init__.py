from . import test_access
from . import test_authorize
from . import test_housekeeping
from . import test_sync
from . import test_sso
from . import test_users
from . import test_user_delta_entries
from . import test_security
