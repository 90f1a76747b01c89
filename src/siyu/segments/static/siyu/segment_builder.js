// The segment builder: conditions picked point and click, written into the rule's JSON textarea (which the
// server checks and counts through htmx). The textarea stays the source of truth: editing it redraws the
// builder, and a rule the builder cannot show is left to the textarea alone.
(function () {
  "use strict";

  var host = document.querySelector("[data-rule-builder]");
  if (!host) return;
  var textarea = document.getElementById(host.dataset.for);
  var catalog = JSON.parse(document.getElementById("rule-catalog").textContent);
  var T = catalog.text;
  var fields = {};
  catalog.fields.forEach(function (f) { fields[f.name] = f; });
  var KINDS = ["field", "bought", "spent", "event", "customer_group", "tag", "consent", "owner", "store",
    "points", "tier", "coupon", "checkin", "survey_answer"];
  var OBJECT_KINDS = ["bought", "spent", "event", "customer_group", "consent", "points", "tier", "coupon", "checkin", "survey_answer"];
  function surveyOf(id) { return catalog.surveys.filter(function (s) { return String(s.id) === String(id); })[0]; }
  function questionOf(survey, id) { return survey ? survey.questions.filter(function (q) { return String(q.id) === String(id); })[0] : undefined; }
  var root = null;

  // --- rule JSON <-> tree --------------------------------------------------------------------------
  function fromRule(rule) {
    if (!rule || typeof rule !== "object" || Array.isArray(rule)) throw new Error("not a condition");
    if ("not" in rule) {
      var inner = fromRule(rule.not);
      inner.not = !inner.not;
      return inner;
    }
    if (Array.isArray(rule.all) || Array.isArray(rule.any)) {
      var op = rule.all ? "all" : "any";
      return { type: "group", op: op, not: false, items: rule[op].map(fromRule) };
    }
    if ("field" in rule) {
      if (!fields[rule.field]) throw new Error("unknown field");
      return { type: "field", not: false, field: rule.field, op: rule.op, value: rule.value };
    }
    var kind = Object.keys(rule)[0];
    if (Object.keys(rule).length !== 1 || KINDS.indexOf(kind) < 0) throw new Error("unknown condition");
    var spec = rule[kind];
    if (OBJECT_KINDS.indexOf(kind) >= 0 && (typeof spec !== "object" || spec === null)) {
      throw new Error("not an object");
    }
    if (kind === "tier" && spec["in"] !== undefined && (!Array.isArray(spec["in"]) || spec["in"].length !== 1)) throw new Error("tiers");  // the builder picks one tier
    if (kind === "survey_answer" && !questionOf(surveyOf(spec.survey_id), spec.question_id)) throw new Error("survey");
    var w = kind === "event" ? spec["with"] : undefined;  // the builder shows one property: a live code's id
    if (w !== undefined && (spec.type !== "code_scanned" || Object.keys(w).join() !== "code_id")) throw new Error("properties");
    return { type: kind, not: false, spec: typeof spec === "object" && spec !== null ? Object.assign({}, spec) : (spec || "") };
  }

  function toRule(node) {
    var rule;
    if (node.type === "group") {
      rule = {};
      rule[node.op] = node.items.map(toRule);
    } else if (node.type === "field") {
      rule = { field: node.field, op: node.op };
      if (node.op !== "is null" && node.op !== "is not null") rule.value = node.value;
    } else {
      rule = {};
      rule[node.type] = typeof node.spec === "object" ? clean(node.spec) : node.spec;
    }
    return node.not ? { not: rule } : rule;
  }

  function clean(spec) {
    var out = {};
    Object.keys(spec).forEach(function (k) {
      if (spec[k] !== "" && spec[k] !== null && spec[k] !== undefined) out[k] = spec[k];
    });
    return out;
  }

  function newCondition(type) {
    if (type === "group") return { type: "group", op: "all", not: false, items: [newCondition("field")] };
    if (type === "field") {
      var f = catalog.fields[0];
      return { type: "field", not: false, field: f.name, op: f.ops.indexOf(">=") >= 0 ? ">=" : f.ops[0], value: defaultValue(f, ">=") };
    }
    var specs = {
      bought: { within_days: 90, at_least: 1 },
      spent: { at_least: 500 },
      event: { type: (catalog.event_types[0] || [""])[0], within_days: 30 },
      customer_group: { type: (catalog.group_types[0] || [""])[0] },
      consent: { channel: "all", status: "opt_out" },
      points: { at_least: 100 },
      tier: { rank_at_least: (catalog.tiers[0] || [0, 0, 0])[2] },
      coupon: { status: "usable" },
      checkin: { streak_at_least: 3 },
    };
    if (type === "survey_answer") {
      var survey = catalog.surveys[0], question = survey ? survey.questions[0] : undefined;
      var spec = survey && question ? { survey_id: survey.id, question_id: question.id, answers: question.options.length ? [question.options[0][0]] : [] } : {};
      return { type: type, not: false, spec: spec };
    }
    if (specs[type]) return { type: type, not: false, spec: specs[type] };
    var first = { tag: catalog.tags[0], store: (catalog.stores[0] || [""])[0], owner: (catalog.guides[0] || [""])[0] }[type];
    return { type: type, not: false, spec: first || "" };
  }

  function defaultValue(field, op) {
    if (op === "is null" || op === "is not null") return undefined;
    if (op === "between") return [0, 1];
    if (op === "in" || op === "not in") return field.choices.length ? [field.choices[0][0]] : [];
    if (field.kind === "number") return 0;
    return field.choices.length ? field.choices[0][0] : "";
  }

  // --- drawing ---------------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function select(options, value, onchange, label) {
    var s = el("select", { "aria-label": label || "", onchange: function () { onchange(s.value); } });
    options.forEach(function (o) {
      var pair = Array.isArray(o) ? o : [o, o];
      var opt = el("option", { value: pair[0], text: pair[1] });
      if (String(pair[0]) === String(value)) opt.selected = true;
      s.appendChild(opt);
    });
    return s;
  }

  function input(value, onchange, attrs) {
    var i = el("input", Object.assign({ type: "text" }, attrs || {}));
    i.value = value === undefined || value === null ? "" : value;
    i.addEventListener("change", function () { onchange(i.value); });
    return i;
  }

  function number(value) {
    if (value === "" || value === null || value === undefined) return "";
    var n = Number(value);
    return isNaN(n) ? value : n;  // the server names what is wrong with a non-number
  }

  function labelled(text, control) {
    return el("label", { class: "rb-part" }, [el("span", { class: "filter-label", text: text }), control]);
  }

  function drawGroup(node, parent) {
    var box = el("div", { class: "rb-group", "data-rb": "group" });
    var head = el("div", { class: "rb-head" }, [
      notToggle(node),
      select([["all", T.all], ["any", T.any]], node.op, function (v) { node.op = v; changed(); }, T.all),
    ]);
    if (parent) head.appendChild(removeButton(node, parent));
    box.appendChild(head);
    var list = el("div", { class: "rb-items" });
    node.items.forEach(function (item) {
      list.appendChild(item.type === "group" ? drawGroup(item, node) : drawCondition(item, node));
    });
    box.appendChild(list);
    box.appendChild(el("div", { class: "rb-add" }, [
      el("button", { type: "button", class: "btn", "data-rb-add": "condition", text: T.add_condition,
        onclick: function () { node.items.push(newCondition("field")); redraw(); } }),
      el("button", { type: "button", class: "btn", "data-rb-add": "group", text: T.add_group,
        onclick: function () { node.items.push(newCondition("group")); redraw(); } }),
    ]));
    return box;
  }

  function notToggle(node) {
    var box = el("input", { type: "checkbox", "data-rb-not": "" });
    box.checked = !!node.not;
    box.addEventListener("change", function () { node.not = box.checked; changed(); });
    return el("label", { class: "check rb-not" }, [box, document.createTextNode(" " + T.not)]);
  }

  function removeButton(node, parent) {
    return el("button", { type: "button", class: "btn rb-remove", "aria-label": T.remove, text: "×",
      onclick: function () {
        parent.items.splice(parent.items.indexOf(node), 1);
        if (!parent.items.length) parent.items.push(newCondition("field"));
        redraw();
      } });
  }

  function drawCondition(node, parent) {
    var row = el("div", { class: "rb-condition", "data-rb": node.type });
    row.appendChild(notToggle(node));
    row.appendChild(select(KINDS.map(function (k) { return [k, T[k]]; }), node.type, function (v) {
      var fresh = newCondition(v);
      fresh.not = node.not;
      parent.items[parent.items.indexOf(node)] = fresh;
      redraw();
    }, T.field));
    (node.type === "field" ? fieldParts(node) : behaviourParts(node)).forEach(function (p) { row.appendChild(p); });
    row.appendChild(removeButton(node, parent));
    return row;
  }

  function fieldParts(node) {
    var field = fields[node.field];
    var groups = {};
    catalog.fields.forEach(function (f) { (groups[f.group] = groups[f.group] || []).push(f); });
    var pick = el("select", { "aria-label": T.field, "data-rb-field": "" });
    Object.keys(groups).forEach(function (g) {
      var og = el("optgroup", { label: g });
      groups[g].forEach(function (f) {
        var opt = el("option", { value: f.name, text: f.label });
        if (f.name === node.field) opt.selected = true;
        og.appendChild(opt);
      });
      pick.appendChild(og);
    });
    pick.addEventListener("change", function () {
      var f = fields[pick.value];
      node.field = f.name;
      if (f.ops.indexOf(node.op) < 0) node.op = f.ops.indexOf("=") >= 0 ? "=" : f.ops[0];
      node.value = defaultValue(f, node.op);
      redraw();
    });
    var ops = field.ops.map(function (o) { return [o, T.ops[o] || o]; });
    var op = select(ops, node.op, function (v) {
      var wasList = Array.isArray(node.value);
      node.op = v;
      var isList = v === "in" || v === "not in" || v === "between";
      if (node.value === undefined || wasList !== isList || v.indexOf("null") >= 0) {
        node.value = defaultValue(field, v);
      }
      redraw();
    }, "op");
    op.setAttribute("data-rb-op", "");
    var parts = [pick, op].concat(valueParts(node, field));
    // A prediction served by a simpler score (or not estimated) says so beside the field.
    if (field.note) parts.push(el("p", { class: "rb-note message", role: "note", "data-rb-note": field.name, text: field.note }));
    return parts;
  }

  function valueParts(node, field) {
    var op = node.op;
    if (op === "is null" || op === "is not null") return [];
    if (op === "between") {
      var pair = Array.isArray(node.value) ? node.value : [0, 1];
      return [0, 1].map(function (i) {
        return input(pair[i], function (v) { pair[i] = number(v); node.value = pair; changed(); }, { type: "number", step: "any", class: "rb-number" });
      });
    }
    if (op === "in" || op === "not in") {
      var chosen = Array.isArray(node.value) ? node.value : [];
      if (field.choices.length) {
        return [el("span", { class: "rb-choices" }, field.choices.map(function (c) {
          var box = el("input", { type: "checkbox", value: c[0] });
          box.checked = chosen.indexOf(c[0]) >= 0;
          box.addEventListener("change", function () {
            node.value = field.choices.map(function (x) { return x[0]; }).filter(function (code) {
              return code === c[0] ? box.checked : chosen.indexOf(code) >= 0;
            });
            chosen = node.value;
            changed();
          });
          return el("label", { class: "check" }, [box, document.createTextNode(" " + c[1])]);
        }))];
      }
      return [input(chosen.join(", "), function (v) {
        node.value = v.split(/[,，]/).map(function (s) { return s.trim(); }).filter(Boolean);
        changed();
      }, { placeholder: T.values_hint, "data-rb-value": "" })];
    }
    if (field.kind === "number") {
      return [input(node.value, function (v) { node.value = number(v); changed(); }, { type: "number", step: "any", class: "rb-number", "data-rb-value": "" })];
    }
    if (field.choices.length && op !== "contains") {
      return [select(field.choices, node.value, function (v) { node.value = v; changed(); }, field.label)];
    }
    return [input(node.value, function (v) { node.value = v; changed(); }, { "data-rb-value": "" })];
  }

  function behaviourParts(node) {
    var spec = node.spec;
    function num(key, text) {
      return labelled(text, input(spec[key], function (v) { spec[key] = number(v); changed(); }, { type: "number", min: "0", step: "any", class: "rb-number", "data-rb-key": key }));
    }
    function text(key, label) {
      return labelled(label, input(spec[key], function (v) { spec[key] = v.trim(); changed(); }, { "data-rb-key": key }));
    }
    function pick(key, label, options) {
      var s = select([["", T.any_value]].concat(options), spec[key] || "", function (v) { spec[key] = v; changed(); }, label);
      s.setAttribute("data-rb-key", key);
      return labelled(label, s);
    }
    function whole(options, label) {  // a condition whose spec is one text (tag, owner, store)
      var known = options.some(function (o) { return String(Array.isArray(o) ? o[0] : o) === String(spec); });
      return [select(known ? options : options.concat([spec]), spec, function (v) { node.spec = v; changed(); }, label)];
    }
    switch (node.type) {
      case "bought":
        return [num("within_days", T.within_days), num("at_least", T.at_least), pick("source", T.source, catalog.sources),
          pick("store", T.store_code, catalog.stores), text("product_name", T.product_name), text("product_id", T.product_id)];
      case "spent":
        return [num("at_least", T.at_least_yuan), num("within_days", T.within_days), pick("source", T.source, catalog.sources),
          pick("store", T.store_code, catalog.stores)];
      case "event":
        var type = pick("type", T.event_type, catalog.event_types);
        type.querySelector("select").addEventListener("change", function () {  // after pick's own handler
          if (spec.type !== "code_scanned") delete spec["with"];
          redraw();  // the live code picker comes or goes
        });
        var parts = [type, num("within_days", T.within_days), num("at_least", T.at_least)];
        if (spec.type === "code_scanned" && catalog.live_codes.length) {  // which live code: a property of the event
          var code = (spec["with"] || {}).code_id || "";
          var codes = select([["", T.any_value]].concat(catalog.live_codes), code, function (v) {
            if (v) spec["with"] = { code_id: v }; else delete spec["with"];
            changed();
          }, T.live_code);
          parts.push(labelled(T.live_code, codes));
        }
        return parts;
      case "customer_group":
        return [pick("type", T.group_type, catalog.group_types), num("left_within_days", T.left_within_days)];
      case "points":
        return [num("at_least", T.points_at_least), num("at_most", T.points_at_most)];
      case "tier":
        var tierIn = select([["", T.any_value]].concat(catalog.tiers.map(function (t) { return [t[0], t[1]]; })),
          (spec["in"] || [""])[0], function (v) { if (v) spec["in"] = [v]; else delete spec["in"]; changed(); }, T.tier_is);
        var tierRank = select([["", T.any_value]].concat(catalog.tiers.map(function (t) { return [t[2], t[1]]; })),
          spec.rank_at_least === undefined ? "" : spec.rank_at_least, function (v) { spec.rank_at_least = v === "" ? "" : Number(v); changed(); }, T.tier_rank);
        return [labelled(T.tier_is, tierIn), labelled(T.tier_rank, tierRank)];
      case "coupon":
        var template = select([["", T.any_value]].concat(catalog.coupon_templates), spec.template_id || "",
          function (v) { spec.template_id = v === "" ? "" : Number(v); changed(); }, T.coupon_template);
        return [labelled(T.coupon_template, template),
          labelled(T.coupon_status, select(catalog.coupon_statuses, spec.status || "held", function (v) { spec.status = v; changed(); }, T.coupon_status))];
      case "checkin":
        return [num("streak_at_least", T.streak_at_least), num("within_days", T.checked_in_within)];
      case "survey_answer":
        if (!catalog.surveys.length) return [el("span", { text: T.no_surveys })];
        var survey = surveyOf(spec.survey_id) || catalog.surveys[0];
        var question = questionOf(survey, spec.question_id) || survey.questions[0];
        var chosen = Array.isArray(spec.answers) ? spec.answers : [];
        var surveys = select(catalog.surveys.map(function (x) { return [x.id, x.name]; }), survey.id, function (v) {
          var next = surveyOf(v);
          spec.survey_id = next.id;
          spec.question_id = next.questions.length ? next.questions[0].id : "";
          spec.answers = [];
          redraw();
        }, T.survey);
        var questions = select(survey.questions.map(function (q) { return [q.id, q.text]; }), question ? question.id : "", function (v) {
          spec.question_id = v;
          spec.answers = [];
          redraw();
        }, T.question);
        var answerParts;
        if (question && question.options.length) {
          answerParts = el("span", { class: "rb-choices" }, question.options.map(function (o) {
            var box = el("input", { type: "checkbox", value: o[0] });
            box.checked = chosen.indexOf(String(o[0])) >= 0;
            box.addEventListener("change", function () {
              spec.answers = question.options.map(function (x) { return String(x[0]); }).filter(function (code) {
                return code === String(o[0]) ? box.checked : chosen.indexOf(code) >= 0;
              });
              chosen = spec.answers;
              changed();
            });
            return el("label", { class: "check" }, [box, document.createTextNode(" " + o[1])]);
          }));
        } else {
          answerParts = input(chosen.join(", "), function (v) {
            spec.answers = v.split(/[,，]/).map(function (x) { return x.trim(); }).filter(Boolean);
            changed();
          }, { placeholder: T.values_hint, "data-rb-key": "answers" });
        }
        return [labelled(T.survey, surveys), labelled(T.question, questions), labelled(T.answer_is, answerParts)];
      case "consent":
        return [select(catalog.consent_channels, spec.channel, function (v) { spec.channel = v; changed(); }, T.consent),
          select(catalog.consent_statuses, spec.status, function (v) { spec.status = v; changed(); }, T.consent)];
      case "tag":
        return catalog.tags.length ? whole(catalog.tags, T.tag) : [input(spec, function (v) { node.spec = v.trim(); changed(); }, {})];
      case "owner":
        return whole([["", T.no_owner]].concat(catalog.guides), T.owner);
      case "store":
        return catalog.stores.length ? whole(catalog.stores, T.store) : [input(spec, function (v) { node.spec = v.trim(); changed(); }, {})];
    }
    return [];
  }

  // --- wiring ----------------------------------------------------------------------------------------
  function changed() {
    textarea.value = JSON.stringify(toRule(root), null, 2);
    textarea.dispatchEvent(new Event("rule-changed"));
  }

  function redraw() {
    host.replaceChildren(drawGroup(root, null));
    changed();
  }

  function load() {
    var rule;
    try {
      rule = JSON.parse(textarea.value || "{}");
      var tree = fromRule(rule);
      root = tree.type === "group" && !tree.not ? tree : { type: "group", op: "all", not: false, items: [tree] };
    } catch (e) {
      host.replaceChildren(el("p", { class: "muted", "data-rb-json-only": "", text: T.json_only }));
      textarea.closest("details").open = true;
      return false;
    }
    host.replaceChildren(drawGroup(root, null));
    return true;
  }

  textarea.addEventListener("keyup", function () {  // typed JSON redraws the builder once it parses
    try { JSON.parse(textarea.value); } catch (e) { return; }
    load();
  });
  load();
})();
