import { sdk } from '../sdk'
import { setPassphrase } from './passphrase'
import { showSetupCode } from './setupCode'

// No "reset admin password" action: igloo has no out-of-band admin reset (an admin resets other
// users' passwords in the web UI; the setup code only creates the first admin).
export const actions = sdk.Actions.of()
  .addAction(showSetupCode)
  .addAction(setPassphrase)
