// Boots GraphiQL from the bundles served beside this file, with a login helper: log in with
// email and password, and every request GraphiQL sends carries the session's bearer token and
// the chosen company's X-Company-ID. The token lives in this page only (not in storage).
(function () {
  "use strict";
  var api = "/graphql";
  var token = "";
  var company = "";

  var $ = function (id) { return document.getElementById(id); };
  var form = $("laatu-login"), status = $("laatu-status"), companies = $("laatu-company");

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  var base = GraphiQL.createFetcher({ url: api });
  function fetcher(params, opts) {
    var headers = Object.assign({}, opts && opts.headers);
    if (token) headers.Authorization = "Bearer " + token;
    if (company) headers["X-Company-ID"] = company;
    return base(params, Object.assign({}, opts, { headers: headers }));
  }

  var loginMutation = "mutation Login($email: String!, $password: String!) {\n" +
    "  login(email: $email, password: $password) {\n" +
    "    token expiresAt user { name } memberships { level company { id name } }\n" +
    "  }\n}";

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    say("Logging in…");
    fetch(api, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/graphql-response+json, application/json" },
      body: JSON.stringify({ query: loginMutation, variables: { email: $("laatu-email").value, password: $("laatu-password").value } })
    }).then(function (r) { return r.json(); }).then(function (body) {
      var login = body.data && body.data.login;
      if (!login) {
        var e = body.errors && body.errors[0];
        throw new Error(e ? e.message + (e.extensions && e.extensions.code ? " (" + e.extensions.code + ")" : "") : "login failed");
      }
      token = login.token;
      $("laatu-password").value = "";
      companies.textContent = "";
      login.memberships.forEach(function (m) {
        if (!m.company) return;
        var o = document.createElement("option");
        o.value = m.company.id;
        o.textContent = m.company.name + " (" + m.level + ")";
        companies.appendChild(o);
      });
      company = companies.value || "";
      companies.hidden = companies.options.length === 0;
      $("laatu-logout").hidden = false;
      form.dataset.state = "in";
      say("Logged in as " + login.user.name + " until " + login.expiresAt);
    }).catch(function (err) { say(String(err.message || err), true); });
  });
  companies.addEventListener("change", function () { company = companies.value; });
  $("laatu-logout").addEventListener("click", function () {
    var t = token;
    token = ""; company = "";
    companies.hidden = true;
    $("laatu-logout").hidden = true;
    delete form.dataset.state;
    say("Logged out");
    fetch(api, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + t },
      body: JSON.stringify({ query: "mutation { logout }" })
    }).catch(function () {});
  });

  // ?query=... fills the editor, for links from documentation.
  var linked = new URLSearchParams(location.search).get("query");
  var explorer = GraphiQLPluginExplorer.explorerPlugin();
  var root = ReactDOM.createRoot($("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    plugins: [explorer],
    defaultEditorToolsVisibility: true,
    shouldPersistHeaders: false,
    query: linked || undefined,
    // /#docs opens the page with the documentation explorer showing, for links from docs.
    visiblePlugin: location.hash === "#docs" ? GraphiQL.React.DOC_EXPLORER_PLUGIN : undefined
  }));
})();
