// The SharedWorker of signal.js: one server connection for every tab of
// the origin that connects to the same url and params. Tabs reach it
// through connect({ shared: true }) (the default); it asks them for
// tokens (getToken() cannot cross to a worker) and sends each tab the
// events of its rooms.
import { serveSharedWorker } from './signal.js';

serveSharedWorker(self);
