/*
 * The auditor's console: a client of the gateway's public API like any other.
 *
 * It gets a token from /oauth/token with the auditor program's client id and
 * secret (client_secret_post) and keeps it in this closure only: never in a
 * URL, a cookie, localStorage or sessionStorage. The secret is forgotten as
 * soon as the token arrives; signing out, a 401, or the token's expiry drops
 * the token. Everything shown comes from POST /graphql (auditSummary,
 * auditAnomalies, chainStatus, disclosures, subjectReport, breachPack). All text from
 * the audit trail is put in the page with textContent, never as HTML.
 */
(function () {
  "use strict";

  const WIB_MS = 7 * 3600 * 1000;
  const COLOURS = ["#0b5cad", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490",
                   "#a16207", "#be185d", "#4d7c0f", "#334155"];
  const session = { token: null, expiry: null, program: null };
  const charts = {};
  let lookupRows = [];
  let lookupName = "pengungkapan.csv";
  let subjectReport = null;

  const OVERVIEW = `query ConsoleOverview($from: DateTime!, $to: DateTime!) {
    auditSummary(from: $from, to: $to) {
      days programs
      totals { events requests allowed refused denied rateLimited rowsDisclosed tokensIssued failedSignIns }
      programDays { day program requests allowed refused denied rateLimited rowsDisclosed tokensIssued }
      failedSignIns { day endpoint clientId attempts }
      fieldsDisclosed { program fieldPath requests }
    }
    auditAnomalies(from: $from, to: $to) {
      rule subject clientId program remoteAddr day firstAt lastAt eventCount measure threshold detail
      sequences
      events { sequence occurredAt endpoint clientId remoteAddr operationName outcome errorCode rowCount }
    }
    chainStatus {
      ok verification checkedAt fullWalkAt headSequence headAt lastSequence signedHeadSequence
      checkpoints checkpointsValid damage { sequence kind detail throughSequence }
    }
  }`;
  const HOUSEHOLD = `query ConsoleHousehold($id: ID!) {
    disclosures(householdId: $id) {
      sequence occurredAt clientId agency program agreement purpose fieldPaths
      householdDisclosed personIds
    }
  }`;
  const SUBJECT = `query ConsoleSubject($nik: String, $kk: String) {
    subjectReport(nik: $nik, kkNumber: $kk) {
      nik kkNumber found generatedAt asOf householdIds personIds
      members { personId householdId memberNo nikMasked initials }
      entries {
        sequence occurredAt clientId agency program agreement purpose purposeCode caseRef
        fields { path mode } householdDisclosed members
      }
      sealedCount sealed { until count }
      kid jws
    }
  }`;

  const $ = (id) => document.getElementById(id);

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function show(node, visible) { node.hidden = !visible; }

  function fail(where, message) {
    where.textContent = message;
    show(where, Boolean(message));
  }

  function wibDate(moment) {
    return new Date(moment.getTime() + WIB_MS).toISOString().slice(0, 10);
  }

  function wibTime(iso) {
    if (!iso) return "";
    return new Date(Date.parse(iso) + WIB_MS).toISOString().slice(0, 19).replace("T", " ") + " WIB";
  }

  function addDays(day, count) {
    const moment = new Date(day + "T00:00:00Z");
    moment.setUTCDate(moment.getUTCDate() + count);
    return moment.toISOString().slice(0, 10);
  }

  function number(value) {
    return Number(value).toLocaleString("id-ID");
  }

  // ---- the token, in memory only ----------------------------------------------------

  function forget(message) {
    session.token = null;
    session.program = null;
    if (session.expiry) clearTimeout(session.expiry);
    session.expiry = null;
    for (const chart of Object.values(charts)) chart.destroy();
    for (const key of Object.keys(charts)) delete charts[key];
    show($("app"), false);
    show($("who"), false);
    show($("signin"), true);
    fail($("signin-error"), message || "");
  }

  async function signIn(event) {
    event.preventDefault();
    const clientId = $("client-id").value.trim();
    const secret = $("client-secret").value;
    fail($("signin-error"), "");
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
        const reason = answer.status === 429
          ? "Terlalu banyak percobaan; coba lagi nanti / Too many attempts; try again later"
          : "Client id atau secret salah / Wrong client id or secret";
        fail($("signin-error"), reason);
        return;
      }
      $("client-secret").value = "";
      session.token = body.access_token;
      const seconds = Math.max(10, Number(body.expires_in || 60) - 5);
      session.expiry = setTimeout(
        () => forget("Sesi berakhir; silakan masuk lagi / Session ended; sign in again"),
        seconds * 1000);
      const access = await graphql("query ConsoleAccess { myAccess { program agencyName } }", {});
      if (!access) return;
      session.program = access.myAccess.program;
      $("who-text").textContent = `${access.myAccess.agencyName} · ${session.program} · ${clientId}`;
      show($("signin"), false);
      show($("who"), true);
      show($("app"), true);
      await loadOverview();
    } catch (error) {
      fail($("signin-error"), "Gateway tidak dapat dihubungi / The gateway cannot be reached");
    } finally {
      $("signin-button").disabled = false;
    }
  }

  async function graphql(query, variables) {
    if (!session.token) { forget(); return null; }
    const answer = await fetch("/graphql", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Authorization": "Bearer " + session.token,
      },
      body: JSON.stringify({ query, variables }),
      credentials: "omit",
      cache: "no-store",
    });
    if (answer.status === 401) {
      forget("Sesi berakhir; silakan masuk lagi / Session ended; sign in again");
      return null;
    }
    const body = await answer.json().catch(() => ({}));
    if (body.errors && body.errors.length) {
      const first = body.errors[0];
      const code = first.extensions && first.extensions.code;
      let message = first.message;
      if (code === "BAD_USER_INPUT" && /Cannot query field/.test(message)) {
        message = "Client ini bukan program auditor / This client is not an auditor program";
        forget(message);
        return null;
      }
      fail($("app-error"), `${code || "ERROR"}: ${message}`);
      return null;
    }
    fail($("app-error"), "");
    return body.data;
  }

  // ---- overview ---------------------------------------------------------------------

  function period() {
    const from = $("period-from").value;
    const to = $("period-to").value;
    return { from: from + "T00:00:00+07:00", to: addDays(to, 1) + "T00:00:00+07:00" };
  }

  function setPeriod(days) {
    const today = wibDate(new Date());
    $("period-from").value = addDays(today, 1 - days);
    $("period-to").value = today;
  }

  async function loadOverview() {
    show($("loading"), true);
    try {
      const data = await graphql(OVERVIEW, period());
      if (!data) return;
      renderChain(data.chainStatus);
      renderTotals(data.auditSummary.totals);
      renderCharts(data.auditSummary);
      renderPrograms(data.auditSummary);
      renderFailures(data.auditSummary.failedSignIns);
      renderFields(data.auditSummary.fieldsDisclosed);
      renderAnomalies(data.auditAnomalies);
    } finally {
      show($("loading"), false);
    }
  }

  function facts(list, pairs) {
    list.replaceChildren();
    for (const [name, value] of pairs) {
      list.append(element("dt", name), element("dd", value));
    }
  }

  function renderChain(chain) {
    const verdict = $("chain-verdict");
    verdict.textContent = chain.ok ? "Utuh / Intact" : "RUSAK / BROKEN";
    verdict.className = "verdict " + (chain.ok ? "ok" : "broken");
    const pairs = [
      ["Pemeriksaan / Check", `${chain.verification} · ${wibTime(chain.checkedAt)}`],
      ["Jalan penuh / Full walk", wibTime(chain.fullWalkAt)],
      ["Kepala terverifikasi / Verified head", `#${chain.headSequence} ${wibTime(chain.headAt)}`],
      ["Kejadian tersimpan / Last stored", `#${chain.lastSequence}`],
      ["Kepala bertanda tangan / Signed head",
       chain.signedHeadSequence === null ? "—" : `#${chain.signedHeadSequence}`],
      ["Checkpoint", `${chain.checkpointsValid} / ${chain.checkpoints}`],
    ];
    if (chain.damage) {
      pairs.push(["Kerusakan / Damage",
                  `#${chain.damage.sequence} ${chain.damage.kind}: ${chain.damage.detail}`]);
    }
    facts($("chain-facts"), pairs);
  }

  function renderTotals(totals) {
    facts($("totals-list"), [
      ["Permintaan / Requests", number(totals.requests)],
      ["Diizinkan / Allowed", number(totals.allowed)],
      ["Ditolak / Refused", number(totals.refused)],
      ["FORBIDDEN", number(totals.denied)],
      ["RATE_LIMITED", number(totals.rateLimited)],
      ["Baris diungkap / Rows disclosed", number(totals.rowsDisclosed)],
      ["Token diterbitkan / Tokens issued", number(totals.tokensIssued)],
      ["Gagal masuk / Failed sign-ins", number(totals.failedSignIns)],
    ]);
  }

  function series(summary, key) {
    const index = new Map(summary.days.map((day, position) => [day, position]));
    return summary.programs.map((program, position) => {
      const values = summary.days.map(() => 0);
      for (const cell of summary.programDays) {
        if (cell.program === program) values[index.get(cell.day)] = cell[key];
      }
      const colour = COLOURS[position % COLOURS.length];
      return { label: program, data: values, backgroundColor: colour, borderColor: colour };
    });
  }

  function drawChart(id, summary, key) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new window.Chart($(id), {
      type: "bar",
      data: { labels: summary.days, datasets: series(summary, key) },
      options: {
        animation: false,
        maintainAspectRatio: false,
        responsive: true,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  function renderCharts(summary) {
    drawChart("requests-chart", summary, "requests");
    drawChart("rows-chart", summary, "rowsDisclosed");
  }

  function table(node, headings, rows, numeric) {
    node.replaceChildren();
    const head = element("tr");
    headings.forEach((heading, column) => {
      head.append(element("th", heading, numeric && numeric.includes(column) ? "number" : ""));
    });
    node.append(head);
    for (const row of rows) {
      const line = element("tr");
      row.forEach((value, column) => {
        const cell = element("td", value, numeric && numeric.includes(column) ? "number" : "");
        line.append(cell);
      });
      node.append(line);
    }
  }

  function renderPrograms(summary) {
    const byProgram = new Map();
    for (const cell of summary.programDays) {
      const total = byProgram.get(cell.program) ||
        { requests: 0, allowed: 0, refused: 0, denied: 0, rateLimited: 0, rowsDisclosed: 0 };
      for (const key of Object.keys(total)) total[key] += cell[key];
      byProgram.set(cell.program, total);
    }
    table($("programs-table"),
      ["Program", "Permintaan / Requests", "Diizinkan / Allowed", "Ditolak / Refused",
       "FORBIDDEN", "RATE_LIMITED", "Baris / Rows"],
      [...byProgram].map(([program, t]) =>
        [program, t.requests, t.allowed, t.refused, t.denied, t.rateLimited, t.rowsDisclosed]),
      [1, 2, 3, 4, 5, 6]);
  }

  function renderFailures(failures) {
    table($("failures-table"), ["Hari / Day", "Endpoint", "Client id", "Percobaan / Attempts"],
      failures.map((f) => [f.day, f.endpoint, f.clientId || "—", f.attempts]), [3]);
  }

  function renderFields(fields) {
    table($("fields-table"), ["Program", "Field", "Permintaan / Requests"],
      fields.map((f) => [f.program, f.fieldPath, f.requests]), [2]);
  }

  // ---- anomalies --------------------------------------------------------------------

  function renderAnomalies(anomalies) {
    const list = $("anomalies-list");
    list.replaceChildren();
    show($("anomalies-none"), anomalies.length === 0);
    $("tab-anomalies").textContent = `Anomali / Anomalies (${anomalies.length})`;
    for (const anomaly of anomalies) {
      const item = element("li", null, "card anomaly");
      item.dataset.rule = anomaly.rule;
      item.dataset.subject = anomaly.subject;
      const title = element("p");
      title.append(element("span", anomaly.rule, "rule"), element("strong", anomaly.subject));
      if (anomaly.program) title.append(element("span", ` · ${anomaly.program}`));
      item.append(title, element("p", anomaly.detail));
      item.append(element("p",
        `${wibTime(anomaly.firstAt)} – ${wibTime(anomaly.lastAt)} · ` +
        `${anomaly.eventCount} kejadian / events · ` +
        `ukuran / measure ${anomaly.measure} (ambang / threshold ${anomaly.threshold})`, "hint"));
      const details = element("details");
      const summary = element("summary",
        `Kejadian di baliknya / Events behind it: #${anomaly.sequences.join(", #")}`);
      details.append(summary);
      const events = element("table");
      table(events,
        ["#", "Waktu / Time", "Endpoint", "Client", "Alamat / Address", "Operasi / Operation",
         "Hasil / Outcome", "Kode / Code", "Baris / Rows"],
        anomaly.events.map((e) => [e.sequence, wibTime(e.occurredAt), e.endpoint,
          e.clientId || "—", e.remoteAddr || "—", e.operationName || "—", e.outcome,
          e.errorCode || "—", e.rowCount]),
        [8]);
      details.append(events);
      if (anomaly.eventCount > anomaly.events.length) {
        details.append(element("p",
          `${anomaly.events.length} dari ${anomaly.eventCount} ditampilkan; sisanya lewat` +
          ` auditEvents / ${anomaly.events.length} of ${anomaly.eventCount} shown; the rest` +
          " through auditEvents", "hint"));
      }
      item.append(details);
      list.append(item);
    }
  }

  // ---- lookup -----------------------------------------------------------------------

  const LOOKUP_HEADINGS = ["No. urut / Sequence", "Waktu (WIB) / Time (WIB)", "Program",
    "Instansi / Agency", "Klien / Client", "Perjanjian / Agreement", "Tujuan / Purpose",
    "No. perkara / Case ref", "Diungkap / Disclosed", "Field (modus) / Fields (mode)"];

  function clearLookup() {
    lookupRows = [];
    subjectReport = null;
    $("lookup-export").disabled = true;
    $("subject-report").disabled = true;
    $("lookup-summary").textContent = "";
    show($("lookup-sealed"), false);
    show($("lookup-members-card"), false);
    $("lookup-members").replaceChildren();
    $("lookup-table").replaceChildren();
  }

  async function lookup(event) {
    event.preventDefault();
    const kind = $("lookup-kind").value;
    const value = $("lookup-value").value.trim();
    clearLookup();
    if (kind === "household") {
      await lookupHousehold(value);
    } else {
      await lookupSubject(kind, value);
    }
    table($("lookup-table"), LOOKUP_HEADINGS, lookupRows, []);
    $("lookup-export").disabled = lookupRows.length === 0;
  }

  async function lookupHousehold(value) {
    const data = await graphql(HOUSEHOLD, { id: value });
    if (!data) return;
    lookupRows = data.disclosures.map((d) => [d.sequence, wibTime(d.occurredAt), d.program,
      d.agency, d.clientId, d.agreement, d.purpose, "",
      (d.householdDisclosed ? "household" : "") +
        (d.personIds.length ? `${d.householdDisclosed ? "; " : ""}members ${d.personIds.join(" ")}` : ""),
      d.fieldPaths.join(" ")]);
    lookupName = `pengungkapan-keluarga-${value.replace(/[^0-9]/g, "")}.csv`;
    $("lookup-summary").textContent = describe(data.disclosures,
      `keluarga / household ${value}`);
  }

  // ---- a person (NIK) or a family (No KK): subjectReport -------------------------------

  async function lookupSubject(kind, value) {
    const data = await graphql(SUBJECT, kind === "nik" ? { nik: value } : { kk: value });
    if (!data) return;
    const report = data.subjectReport;
    const label = kind === "nik" ? `NIK ${report.nik}` : `No KK ${report.kkNumber}`;
    subjectReport = report;
    $("subject-report").disabled = false;
    if (!report.found) {
      $("lookup-summary").textContent =
        `${label}: tidak ditemukan di registri / not in the registry`;
      return;
    }
    lookupRows = report.entries.map((d) => [d.sequence, wibTime(d.occurredAt), d.program,
      d.agency, d.clientId, d.agreement, d.purposeCode || d.purpose, d.caseRef || "",
      [d.householdDisclosed ? "keluarga / household" : "", ...d.members]
        .filter(Boolean).join("; "),
      d.fields.map((f) => `${f.path} (${f.mode})`).join(" ")]);
    lookupName = `pengungkapan-${kind}-${value.replace(/[^0-9]/g, "")}.csv`;
    $("lookup-summary").textContent = describe(report.entries, label);
    renderSealed(report);
    renderMembers(report.members);
  }

  function renderSealed(report) {
    const sealed = $("lookup-sealed");
    sealed.textContent = report.sealed.map((s) =>
      `${s.count} pengungkapan disegel sampai ${s.until} / ${s.count} disclosures sealed` +
      ` until ${s.until}`).join("; ");
    show(sealed, report.sealedCount > 0);
  }

  function renderMembers(members) {
    table($("lookup-members"),
      ["No. anggota / Member no.", "NIK (tersamar) / NIK (masked)", "Inisial / Initials"],
      members.map((m) => [m.memberNo, m.nikMasked, m.initials]), [0]);
    show($("lookup-members-card"), members.length > 0);
  }

  function download(content, name, type) {
    const blob = new Blob([content], { type });
    const link = element("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  function downloadSubjectReport() {
    if (!subjectReport) return;
    const subject = subjectReport.nik ? `nik-${subjectReport.nik}` : `kk-${subjectReport.kkNumber}`;
    download(subjectReport.jws + "\n", `laporan-subjek-${subject}.jws`, "application/jose");
  }

  function describe(disclosures, subject) {
    const programs = [...new Set(disclosures.map((d) => d.program))].sort();
    return `${disclosures.length} pengungkapan / disclosures of ${subject} to ` +
      `${programs.length} program(s): ${programs.join(", ") || "—"}`;
  }

  function csvCell(value) {
    let text = value === null || value === undefined ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = "'" + text;
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function exportCsv() {
    const lines = [LOOKUP_HEADINGS, ...lookupRows].map((row) => row.map(csvCell).join(","));
    download("\ufeff" + lines.join("\r\n") + "\r\n", lookupName, "text/csv");
  }

  // ---- breach pack (UU PDP Pasal 46) -------------------------------------------------

  const BREACH = `query ConsoleBreach($client: String!, $from: DateTime!, $to: DateTime!) {
    breachPack(clientId: $client, from: $from, to: $to) {
      verified damage { sequence kind detail } events households persons summaryHtml
    }
  }`;

  /** The breach pack's summary for a client over the period: verified, counted, downloaded. */
  async function breachPack(event) {
    event.preventDefault();
    const client = $("breach-client").value.trim();
    const result = $("breach-result");
    result.textContent = "Memeriksa rantai… / Verifying the chain…";
    const data = await graphql(BREACH, Object.assign({ client }, period()));
    if (!data) { result.textContent = ""; return; }
    const pack = data.breachPack;
    if (!pack.verified) {
      const damage = pack.damage;
      result.textContent = `RANTAI RUSAK / CHAIN BROKEN: #${damage.sequence} ${damage.kind}:` +
        ` ${damage.detail}. Tidak ada paket / No pack.`;
      return;
    }
    result.textContent = `${number(pack.events)} permintaan / requests, ${number(pack.households)}` +
      ` keluarga / households, ${number(pack.persons)} orang / persons.`;
    downloadBreach(pack.summaryHtml, client);
  }

  function downloadBreach(html, client) {
    const blob = new Blob([html], { type: "text/html" });
    const link = element("a");
    link.href = URL.createObjectURL(blob);
    link.download = `ringkasan-kebocoran-${client.replace(/[^A-Za-z0-9_-]/g, "")}.html`;
    link.id = "breach-download";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  // ---- wiring -----------------------------------------------------------------------

  function selectTab(name) {
    for (const tab of document.querySelectorAll("[data-tab]")) {
      const selected = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(selected));
      show($("panel-" + tab.dataset.tab), selected);
    }
    show($("period-form"), name !== "lookup");
  }

  document.addEventListener("DOMContentLoaded", () => {
    setPeriod(7);
    $("signin-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => forget(""));
    $("period-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadOverview();
    });
    $("period-week").addEventListener("click", () => { setPeriod(7); loadOverview(); });
    $("period-month").addEventListener("click", () => { setPeriod(30); loadOverview(); });
    for (const tab of document.querySelectorAll("[data-tab]")) {
      tab.addEventListener("click", () => selectTab(tab.dataset.tab));
    }
    $("lookup-form").addEventListener("submit", lookup);
    $("lookup-export").addEventListener("click", exportCsv);
    $("subject-report").addEventListener("click", downloadSubjectReport);
    $("breach-form").addEventListener("submit", breachPack);
  });
})();
