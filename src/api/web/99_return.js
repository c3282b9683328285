// What the prelude gives back to web.c: the entry points the runtime calls from C.
return { makeRequest, readResponse, inspect, reportException };
