from . import csp_connection
from . import csp_tenant
from . import csp_sync_run
from . import csp_request_log
