-- neutralisation of the Microsoft CSP connector: no secret, no token, no scheduled sync
UPDATE csp_connection
   SET pc_client_secret = NULL,
       gdap_client_secret = NULL,
       token_cache = NULL,
       auth_flow = NULL,
       state = 'not_authorized',
       integrator_enabled = FALSE;
UPDATE csp_tenant
   SET consent_nonce = NULL;
-- a copy must not answer at production's webhook URL, nor show production's registration
UPDATE csp_connection
   SET webhook_key = replace(gen_random_uuid()::text, '-', ''),
       webhook_registration = NULL,
       webhook_registration_differs = FALSE,
       webhook_test_id = NULL,
       webhook_test_requested = NULL,
       webhook_test_status = NULL;
