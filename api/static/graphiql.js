/*
 * GraphiQL for regsosek-gateway, with a sign-in.
 *
 * The client id and secret are exchanged at /oauth/token (client_secret_post)
 * for an access token that lives in this closure and in the Headers tab only:
 * never in a URL, a cookie, localStorage or sessionStorage (GraphiQL's own
 * storage is replaced by one that keeps nothing). The secret is forgotten as
 * soon as the token arrives.
 *
 * The schema is fetched (introspection) only with a real bearer token: right
 * after sign-in, and again whenever the Authorization header in the Headers
 * tab changes to another token. Without one GraphiQL gets `schema: null` and
 * sends nothing, so loading the page leaves no failed sign-in in the audit
 * trail.
 */
(function () {
  "use strict";

  const h = React.createElement;
  const root = document.getElementById("graphiql");
  const endpoint = root.getAttribute("data-endpoint");
  const INTROSPECTION = "IntrospectionQuery";
  const BEARER = /^Bearer\s+[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
  const DEFAULT_QUERY = [
    "# Masuk di atas dengan client id dan secret Anda.",
    "# Sign in above with your client id and secret:",
    "# the schema, Docs and Ctrl-Space completion",
    "# then hold only what your program may read.",
    "{",
    "  myAccess { program agency purpose rowScope }",
    "}",
    "",
  ].join("\n");
  const NO_STORAGE = {
    getItem: function () { return null; },
    setItem: function () {},
    removeItem: function () {},
    clear: function () {},
    length: 0,
  };

  const $ = (id) => document.getElementById(id);
  let setAuthorization = null;
  let expiry = null;

  /** The Authorization header of a Headers-tab text, if it carries a real bearer token. */
  function bearerOf(text) {
    let headers;
    try {
      headers = JSON.parse(text || "{}");
    } catch (error) {
      return null;
    }
    if (!headers || typeof headers !== "object") return null;
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === "authorization" && typeof headers[key] === "string") {
        const value = headers[key].trim();
        return BEARER.test(value) ? value : null;
      }
    }
    return null;
  }

  /**
   * A fetcher bound to one Authorization header: a new one (and so a new
   * introspection) each time the header changes. Introspection always goes
   * with the bound header; operations go with the Headers tab as written.
   */
  function fetcherFor(authorization) {
    const base = GraphiQL.createFetcher({ url: endpoint });
    return function (params, options) {
      const headers = Object.assign({}, (options && options.headers) || {});
      if (params && params.operationName === INTROSPECTION) {
        for (const key of Object.keys(headers)) {
          if (key.toLowerCase() === "authorization") delete headers[key];
        }
        headers.Authorization = authorization;
      }
      return base(params, Object.assign({}, options, { headers: headers }));
    };
  }

  function headersText(authorization) {
    return JSON.stringify(authorization ? { Authorization: authorization } : {}, null, 2);
  }

  function Playground() {
    const [authorization, setAuth] = React.useState(null);
    const [headers, setHeaders] = React.useState(headersText(null));
    setAuthorization = function (value) {
      setAuth(value);
      setHeaders(headersText(value));
    };
    const fetcher = React.useMemo(
      () => (authorization ? fetcherFor(authorization) : fetcherFor("")),
      [authorization],
    );
    return h(GraphiQL, {
      fetcher: fetcher,
      // null: no schema and no introspection until there is a token.
      schema: authorization ? undefined : null,
      headers: headers,
      onEditHeaders: function (text) {
        setHeaders(text);
        const found = bearerOf(text);
        if (found !== authorization) setAuth(found);
      },
      defaultQuery: DEFAULT_QUERY,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
      storage: NO_STORAGE,
    });
  }

  function fail(message) {
    $("signin-error").textContent = message || "";
    $("signin-error").hidden = !message;
  }

  function signedIn(text) {
    $("signin-form").hidden = Boolean(text);
    $("signed-in").hidden = !text;
    $("who").textContent = text || "";
  }

  function signOut(message) {
    if (expiry) clearTimeout(expiry);
    expiry = null;
    setAuthorization(null);
    signedIn(null);
    fail(message || "");
  }

  async function signIn(event) {
    event.preventDefault();
    const clientId = $("client-id").value.trim();
    const secret = $("client-secret").value;
    fail("");
    $("signin-button").disabled = true;
    try {
      const answer = await fetch("/oauth/token", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials", client_id: clientId, client_secret: secret,
        }),
        credentials: "omit",
        cache: "no-store",
      });
      const body = await answer.json().catch(() => ({}));
      if (!answer.ok || !body.access_token) {
        fail(answer.status === 429
          ? "Terlalu banyak percobaan; coba lagi nanti / Too many attempts; try again later"
          : "Client id atau secret salah / Wrong client id or secret");
        return;
      }
      $("client-secret").value = "";
      const seconds = Math.max(10, Number(body.expires_in || 60) - 5);
      expiry = setTimeout(
        () => signOut("Token kedaluwarsa; silakan masuk lagi / Token expired; sign in again"),
        seconds * 1000);
      setAuthorization("Bearer " + body.access_token);
      signedIn("Masuk sebagai / signed in as " + clientId + " (" + (body.scope || "") + ")");
    } catch (error) {
      fail("Gateway tidak dapat dihubungi / The gateway cannot be reached");
    } finally {
      $("signin-button").disabled = false;
    }
  }

  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut(""));
  ReactDOM.createRoot(root).render(h(Playground));
})();
