// A stand-in for the parts of LuCI's JS API the app's views use, written from luci-base's
// own source (modules/luci-base/htdocs/luci-static/resources: luci.js, baseclass, view, poll,
// rpc.js, uci.js, form.js, ui.js at upstream 470bb2b8) so that the views run unchanged in a
// browser test. What it keeps of each, and the behaviour each case in
// tests/integration/luci.rs pins:
// - luci.js `require`: a class file is fetched, its 'require X [as Y]' strings name its
//   dependencies, and it is evaluated as `(function(window, document, L, deps…) {…})`; it must
//   yield a class. `L.resolveDefault`, `L.bind`, `L.isObject`, `E`, `_`, String.format.
// - view.js (luci.js `view`): `load()`, then `render(result)` into #view, then the page footer:
//   Save & Apply (`cbi-button-apply`), Save (`cbi-button-save`), Reset, disabled when the page
//   is read-only (rpcd's session has only the ACL's read part); a handler set to null has no
//   button.
// - poll.js: `poll.add(fn)` every `L.env.pollinterval` seconds (LuCI's default is 5).
// - rpc.js: JSON-RPC 2.0 `call` with [session, object, method, params]; the reply's
//   `result` is [code, data]; `expect` picks a key and its type's default; a non-zero code
//   resolves to the code unless `reject` (the views then see a number, not data).
// - uci.js: `load` (uci get), `sections` in `.index` order, `get`/`set`/`unset`/`add`/
//   `remove`, `save` (uci add/set/delete over rpc), `apply` (uci apply, then confirm).
// - form.js + ui.js: Map, NamedSection, TypedSection (tabs, addremove, anonymous), Value,
//   ListValue, Flag, DynamicList, MultiValue; widgets with ids `widget.cbid.<config>.<sid>.
//   <option>`; `datatype` (range, port, ipaddr, cidr) and `validate`; an invalid input gets
//   `cbi-input-invalid` and blocks the save with Map.save's "Save error" modal: 'Option
//   "Weight" contains an invalid input value. Expecting: value between 1 and 256'.
(function(window, document) {
	'use strict';

	var env = window.LUCI_ENV || {};
	env.pollinterval = env.pollinterval || 5;

	/* luci.js: String.prototype.format, the subset the views use: %s %d %h %%, pad, width */
	String.prototype.format = function() {
		var args = arguments, n = 0;
		return this.replace(/%(0?)(\d*)(?:\.(\d+))?([sdhf%])/g, function(m, zero, width, prec, type) {
			if (type == '%')
				return '%';
			var v = args[n++], s;
			switch (type) {
			case 'd': s = Math.floor(+v || 0).toFixed(0); break;
			case 'f': s = prec ? (+v || 0).toFixed(+prec) : String(+v || 0); break;
			case 'h': s = String(v == null ? '' : v).replace(/&/g, '&#38;').replace(/</g, '&#60;').replace(/>/g, '&#62;').replace(/"/g, '&#34;'); break;
			default: s = (v == null) ? '' : String(v);
			}
			while (width && s.length < +width)
				s = (zero ? '0' : ' ') + s;
			return s;
		});
	};

	window._ = function(s) { return s; };

	/* luci.js E(): E(tag, attrs, children) or E(tag, children) */
	function append(node, children) {
		if (children == null)
			return;
		if (Array.isArray(children))
			children.forEach(function(c) { append(node, c); });
		else if (children instanceof Node)
			node.appendChild(children);
		else
			node.appendChild(document.createTextNode(String(children)));
	}

	window.E = function(tag, attrs, children) {
		if (Array.isArray(tag)) {
			var frag = document.createDocumentFragment();
			append(frag, tag);
			return frag;
		}
		var node = document.createElement(tag);
		if (attrs != null && (typeof attrs != 'object' || Array.isArray(attrs) || attrs instanceof Node)) {
			children = attrs;
			attrs = null;
		}
		for (var k in (attrs || {})) {
			var v = attrs[k];
			if (v == null)
				continue;
			if (typeof v == 'function')
				node.addEventListener(k, v);
			else
				node.setAttribute(k, v);
		}
		append(node, children);
		return node;
	};

	/* baseclass: Class.extend(), __init__, super() */
	var Class = function() {};
	Class.extend = function(props) {
		var parent = this, proto = Object.create(parent.prototype);
		var ctor = function() {
			if (typeof this.__init__ == 'function')
				return this.__init__.apply(this, arguments);
		};
		for (var k in props)
			proto[k] = props[k];
		proto.super = function(key, args) {
			return parent.prototype[key].apply(this, args || []);
		};
		ctor.prototype = proto;
		proto.constructor = ctor;
		ctor.extend = Class.extend;
		ctor.isSubclass = true;
		return ctor;
	};

	var classes = {}, L;

	L = window.L = {
		env: env,
		Class: Class,
		resource: function(p) { return '/luci-static/resources/' + p; },
		url: function() { return '/cgi-bin/luci/' + [].slice.call(arguments).join('/'); },
		isObject: function(o) { return o != null && typeof o == 'object' && !Array.isArray(o); },
		bind: function(fn, self) {
			var pre = [].slice.call(arguments, 2);
			return function() { return fn.apply(self, pre.concat([].slice.call(arguments))); };
		},
		resolveDefault: function(p, def) {
			return Promise.resolve(p).catch(function() { return def; });
		},
		raise: function(type, msg) { var e = new Error(msg); e.name = type; throw e; },
		error: function(type, msg) { L.raise(type, msg); },

		/* luci.js require(): fetch, find the 'require' strings, evaluate, instantiate */
		require: function(name) {
			if (classes[name])
				return Promise.resolve(classes[name]);
			var url = '/luci-static/resources/' + name.replace(/\./g, '/') + '.js';
			return (classes[name] = fetch(url).then(function(res) {
				if (!res.ok)
					L.raise('NetworkError', 'HTTP error ' + res.status + ' while loading class file "' + url + '"');
				return res.text();
			}).then(function(source) {
				var deps = [], args = '';
				var re = /^\s*(?:'use strict'|"use strict");?|^\s*(['"])require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?\1;?/gm, m;
				while ((m = re.exec(source)) != null) {
					if (!m[2])
						continue;
					deps.push(L.require(m[2]));
					args += ', ' + (m[3] || m[2].replace(/[^a-zA-Z0-9_]/g, '_'));
				}
				return Promise.all(deps).then(function(instances) {
					var factory = eval('(function(window, document, L' + args + ') { ' + source + ' })\n//# sourceURL=' + url);
					var cls = factory.apply(factory, [ window, document, L ].concat(instances));
					if (!cls || !cls.isSubclass)
						L.raise('TypeError', '"' + name + '" factory yields invalid constructor');
					return (classes[name] = new cls());
				});
			}));
		}
	};

	function define(name, props) {
		classes[name] = props;
	}

	define('baseclass', Class);

	/* poll.js */
	var polls = [];
	define('poll', {
		add: function(fn, interval) {
			var p = { fn: fn, interval: interval || env.pollinterval };
			polls.push(p);
			var run = function() {
				Promise.resolve().then(p.fn).catch(function(e) { console.error(e); })
					.then(function() { window.setTimeout(run, p.interval * 1000); });
			};
			window.setTimeout(run, p.interval * 1000);
		}
	});

	/* rpc.js */
	var rpcID = 1;
	var rpc = {
		declare: function(o) {
			return function() {
				var args = [].slice.call(arguments), params = {};
				(o.params || []).forEach(function(p, i) { params[p] = args[i]; });
				return fetch(env.ubus || '/ubus', {
					method: 'POST',
					headers: { 'Content-Type': 'application/json' },
					body: JSON.stringify({ jsonrpc: '2.0', id: rpcID++, method: 'call',
						params: [ env.sessionid, o.object, o.method, params ] })
				}).then(function(res) { return res.json(); }).then(function(msg) {
					if (!L.isObject(msg) || msg.jsonrpc != '2.0')
						L.raise('RPCError', 'RPC call to ' + o.object + '/' + o.method + ' returned invalid message frame');
					if (L.isObject(msg.error))
						L.raise('RPCError', 'RPC call to ' + o.object + '/' + o.method + ' failed with error ' + msg.error.code + ': ' + msg.error.message);
					var ret = msg.result;
					if (Array.isArray(ret)) {
						if (o.reject && ret[0] !== 0)
							L.raise('RPCError', 'RPC call to ' + o.object + '/' + o.method + ' failed with ubus code ' + ret[0]);
						ret = ret.length > 1 ? ret[1] : ret[0];
					}
					if (o.expect) {
						for (var key in o.expect) {
							if (ret != null && key != '')
								ret = ret[key];
							var t = Object.prototype.toString;
							if (ret == null || t.call(ret) != t.call(o.expect[key]))
								ret = o.expect[key];
							break;
						}
					}
					return typeof o.filter == 'function' ? o.filter(ret, params) : ret;
				});
			};
		}
	};
	define('rpc', rpc);

	/* uci.js */
	var callGet = rpc.declare({ object: 'uci', method: 'get', params: [ 'config' ], expect: { values: {} }, reject: true });
	var callAdd = rpc.declare({ object: 'uci', method: 'add', params: [ 'config', 'type', 'name', 'values' ], expect: { section: '' } });
	var callSet = rpc.declare({ object: 'uci', method: 'set', params: [ 'config', 'section', 'values' ] });
	var callDelete = rpc.declare({ object: 'uci', method: 'delete', params: [ 'config', 'section', 'options' ] });
	var callApply = rpc.declare({ object: 'uci', method: 'apply', params: [ 'timeout', 'rollback' ] });
	var callConfirm = rpc.declare({ object: 'uci', method: 'confirm' });
	var store = {}, changes = { add: [], set: {}, del: [] }, newIndex = 0;

	var uci = {
		load: function(conf) {
			return callGet(conf).then(function(values) { store[conf] = values; return conf; });
		},
		sections: function(conf, type) {
			var all = store[conf] || {};
			return Object.keys(all).map(function(k) { return all[k]; })
				.filter(function(s) { return !type || s['.type'] == type; })
				.sort(function(a, b) { return a['.index'] - b['.index']; });
		},
		get: function(conf, sid, opt) {
			var s = (store[conf] || {})[sid];
			return s == null ? null : (opt == null ? s : s[opt]);
		},
		set: function(conf, sid, opt, val) {
			var s = store[conf][sid];
			if (val == null || val === '' || (Array.isArray(val) && !val.length)) {
				if (s[opt] === undefined)
					return;
				delete s[opt];
			}
			else {
				if (String(s[opt]) === String(val))
					return;
				s[opt] = val;
			}
			var c = changes.set[conf + '\u0000' + sid] = changes.set[conf + '\u0000' + sid] || { conf: conf, sid: sid, values: {}, unset: [] };
			if (val == null || val === '' || (Array.isArray(val) && !val.length))
				c.unset.push(opt);
			else
				c.values[opt] = val;
		},
		unset: function(conf, sid, opt) { uci.set(conf, sid, opt, null); },
		add: function(conf, type, name) {
			var sid = name || 'new' + (newIndex++);
			store[conf][sid] = { '.name': sid, '.type': type, '.anonymous': !name, '.index': 1000 + newIndex };
			changes.add.push({ conf: conf, type: type, name: name, sid: sid });
			return sid;
		},
		remove: function(conf, sid) {
			delete store[conf][sid];
			changes.del.push({ conf: conf, sid: sid });
		},
		save: function() {
			var tasks = Promise.resolve();
			changes.add.forEach(function(a) {
				tasks = tasks.then(function() {
					var pending = changes.set[a.conf + '\u0000' + a.sid];
					var values = pending ? pending.values : {};
					if (pending)
						delete changes.set[a.conf + '\u0000' + a.sid];
					return callAdd(a.conf, a.type, a.name, values);
				});
			});
			changes.del.forEach(function(d) { tasks = tasks.then(function() { return callDelete(d.conf, d.sid, null); }); });
			Object.keys(changes.set).forEach(function(k) {
				var c = changes.set[k];
				tasks = tasks.then(function() {
					return callSet(c.conf, c.sid, c.values).then(function(rv) {
						return c.unset.length ? callDelete(c.conf, c.sid, c.unset) : rv;
					});
				});
			});
			return tasks.then(function(rv) {
				changes = { add: [], set: {}, del: [] };
				return rv;
			});
		},
		apply: function(timeout) {
			return callApply(timeout || 10, true).then(function(rv) {
				if (rv !== 0)
					return Promise.reject(rv);
				return callConfirm();
			});
		}
	};
	define('uci', uci);

	/* ui.js: notifications, Save & Apply's apply-and-reload */
	var ui = {
		// ui.js showModal/hideModal: one dialog in #modal_overlay, body.modal-overlay-active.
		showModal: function(title, children) {
			var overlay = document.getElementById('modal_overlay') || document.body.appendChild(E('div', { 'id': 'modal_overlay' }));
			overlay.replaceChildren(E('div', { 'class': 'modal' }, [ E('h4', {}, title), children ]));
			document.body.classList.add('modal-overlay-active');
		},
		hideModal: function() {
			var overlay = document.getElementById('modal_overlay');
			if (overlay)
				overlay.replaceChildren();
			document.body.classList.remove('modal-overlay-active');
		},
		addNotification: function(title, children, type) {
			var box = document.getElementById('notifications');
			box.appendChild(E('div', { 'class': 'alert-message ' + (type || '') }, [ title ? E('h4', {}, title) : '', children ]));
		},
		changes: {
			apply: function() {
				return uci.apply().then(function(rv) {
					if (rv !== 0 && rv != null)
						ui.addNotification(null, E('p', {}, _('Apply request failed with status <code>%h</code>').format(rv)), 'error');
					else
						window.location.reload();
				}, function(rv) {
					ui.addNotification(null, E('p', {}, 'Apply request failed with status ' + rv), 'error');
				});
			}
		}
	};
	define('ui', ui);

	/* view.js (luci.js `view`) */
	define('view', {
		extend: function(props) {
			var View = Class.extend({
				__init__: function() {
					var vp = document.getElementById('view'), self = this;
					return Promise.resolve(this.load()).then(function(data) {
						return self.render(data);
					}).then(function(node) {
						vp.replaceChildren(node);
						vp.appendChild(self.addFooter());
						document.body.setAttribute('data-view-ready', '1');
					}).catch(function(e) {
						vp.replaceChildren(E('div', { 'class': 'alert-message error', 'id': 'view-error' }, String(e)));
						document.body.setAttribute('data-view-ready', 'error');
					});
				},
				load: function() {},
				render: function() {},
				handleSave: function() {
					var maps = forms.slice();
					return Promise.all(maps.map(function(m) { return m.save(); }));
				},
				handleSaveApply: function() {
					return this.handleSave().then(function() { return ui.changes.apply(); });
				},
				handleReset: function() { window.location.reload(); },
				addFooter: function() {
					var self = this, readonly = !!env.readonly;
					var button = function(cls, label, fn) {
						if (!self[fn])
							return '';
						return E('button', { 'class': 'cbi-button ' + cls, 'disabled': readonly ? 'disabled' : null,
							'click': function(ev) {
								ev.target.disabled = true;
								Promise.resolve(self[fn](ev)).catch(function(e) {
									if (e && e.message)
										ui.addNotification(null, E('p', {}, e.message), 'error');
								}).then(function() { ev.target.disabled = readonly; });
							} }, label);
					};
					if (!this.handleSaveApply && !this.handleSave && !this.handleReset)
						return E([]);
					return E('div', { 'class': 'cbi-page-actions' }, [
						button('cbi-button-apply', _('Save & Apply'), 'handleSaveApply'), ' ',
						button('cbi-button-save', _('Save'), 'handleSave'), ' ',
						button('cbi-button-reset', _('Reset'), 'handleReset')
					]);
				}
			});
			return View.extend(props);
		}
	});

	/* form.js with ui.js's widgets */
	var forms = [];

	// ui.js / validation.js: the datatypes the views use.
	function datatypeOK(type, v) {
		var m = /^range\((-?[0-9.]+),\s*(-?[0-9.]+)\)$/.exec(type);
		if (m)
			return /^-?[0-9]+(\.[0-9]+)?$/.test(v) && +v >= +m[1] && +v <= +m[2];
		switch (type) {
		case 'port': return /^[0-9]+$/.test(v) && +v <= 65535;
		case 'ipaddr': return /^[0-9.]+$/.test(v) ? /^(\d{1,3}\.){3}\d{1,3}$/.test(v) : /^[0-9a-fA-F:.]+$/.test(v) && v.indexOf(':') >= 0;
		case 'cidr': var p = v.split('/'); return p.length == 2 && datatypeOK('ipaddr', p[0]) && /^[0-9]+$/.test(p[1]);
		case 'uciname': return /^[a-zA-Z0-9_]+$/.test(v);
		}
		return true;
	}

	var AbstractValue = Class.extend({
		__init__: function(map, section, option, title, description) {
			this.map = map;
			this.section = section;
			this.option = option;
			this.title = title;
			this.description = description;
			this.deps = [];
			this.keylist = [];
			this.vallist = [];
			this.rmempty = true;
		},
		value: function(k, label) { this.keylist.push(String(k)); this.vallist.push(label != null ? label : String(k)); },
		depends: function(opt, val) { var d = {}; d[opt] = val; this.deps.push(d); },
		cbid: function(sid) { return 'cbid.%s.%s.%s'.format(this.map.config, sid, this.option); },
		cfgvalue: function(sid) { return uci.get(this.map.config, sid, this.option); },
		active: function(sid) {
			if (!this.deps.length)
				return true;
			var self = this;
			return this.deps.some(function(d) {
				return Object.keys(d).every(function(k) {
					var o = self.section.children.filter(function(c) { return c.option == k; })[0];
					var v = o ? o.formvalue(sid) : uci.get(self.map.config, sid, k);
					return String(v == null ? (o && o.default != null ? o.default : '') : v) == String(d[k]);
				});
			});
		},
		widget: function(sid) { return document.getElementById('widget.' + this.cbid(sid)); },
		// form.js AbstractValue.parse(): 'Option "%s" contains an invalid input value.' and
		// validation.js's "Expecting: …" (range: "value between %f and %f").
		expecting: function() {
			var m = /^range\((-?[0-9.]+),\s*(-?[0-9.]+)\)$/.exec(this.datatype || '');
			if (m)
				return _('Expecting: %s').format(_('value between %s and %s').format(m[1], m[2]));
			return _('Expecting: %s').format(_('valid value'));
		},
		check: function(sid) {
			var w = this.widget(sid);
			if (!w || !this.active(sid))
				return true;
			var v = this.formvalue(sid), ok = true;
			var values = Array.isArray(v) ? v : [ v ];
			for (var i = 0; ok && i < values.length; i++) {
				var x = values[i] == null ? '' : String(values[i]);
				if (x === '')
					ok = this.rmempty !== false || this.optional;
				else if (this.datatype)
					ok = datatypeOK(this.datatype, x);
				if (ok && typeof this.validate == 'function') {
					var r = this.validate(sid, x);
					ok = (r === true);
				}
			}
			w.classList.toggle('cbi-input-invalid', !ok);
			if (!ok)
				this.error = _('Option "%s" contains an invalid input value.').format(this.title || this.option) + ' ' + this.expecting();
			return ok;
		},
		row: function(sid, widget) {
			var self = this;
			widget.addEventListener('input', function() { self.check(sid); self.section.refreshDeps(sid); });
			widget.addEventListener('change', function() { self.check(sid); self.section.refreshDeps(sid); });
			return E('div', { 'class': 'cbi-value', 'data-name': this.option, 'id': 'cbi-' + this.map.config + '-' + sid + '-' + this.option }, [
				E('label', { 'class': 'cbi-value-title', 'for': 'widget.' + this.cbid(sid) }, this.title),
				E('div', { 'class': 'cbi-value-field', 'id': this.cbid(sid) }, [
					widget,
					this.description ? E('div', { 'class': 'cbi-value-description' }, this.description) : ''
				])
			]);
		},
		write: function(sid, v) { uci.set(this.map.config, sid, this.option, v); },
		save: function(sid) {
			if (!this.active(sid) || !this.widget(sid))
				return;
			var v = this.formvalue(sid);
			if (v == null || v === '' || (Array.isArray(v) && !v.length))
				uci.unset(this.map.config, sid, this.option);
			else
				this.write(sid, v);
		}
	});

	var Value = AbstractValue.extend({
		render: function(sid) {
			var v = this.cfgvalue(sid);
			return this.row(sid, E('input', { 'type': 'text', 'id': 'widget.' + this.cbid(sid), 'class': 'cbi-input-text',
				'value': v != null ? v : (this.default != null ? this.default : ''), 'placeholder': this.placeholder,
				'disabled': this.map.readonly ? 'disabled' : null }));
		},
		formvalue: function(sid) { var w = this.widget(sid); return w ? w.value : null; }
	});

	var ListValue = AbstractValue.extend({
		render: function(sid) {
			var v = this.cfgvalue(sid), self = this;
			if (v == null)
				v = this.default != null ? this.default : (this.keylist[0] || '');
			return this.row(sid, E('select', { 'id': 'widget.' + this.cbid(sid), 'class': 'cbi-input-select',
				'disabled': this.map.readonly ? 'disabled' : null }, this.keylist.map(function(k, i) {
				return E('option', { 'value': k, 'selected': String(k) == String(v) ? 'selected' : null }, self.vallist[i]);
			})));
		},
		formvalue: function(sid) { var w = this.widget(sid); return w ? w.value : null; }
	});

	var Flag = AbstractValue.extend({
		render: function(sid) {
			var v = this.cfgvalue(sid);
			if (v == null)
				v = this.default != null ? this.default : '0';
			return this.row(sid, E('input', { 'type': 'checkbox', 'id': 'widget.' + this.cbid(sid), 'value': '1',
				'checked': String(v) == '1' ? 'checked' : null, 'disabled': this.map.readonly ? 'disabled' : null }));
		},
		formvalue: function(sid) { var w = this.widget(sid); return w ? (w.checked ? '1' : '0') : null; },
		save: function(sid) {
			if (!this.active(sid) || !this.widget(sid))
				return;
			var v = this.formvalue(sid), cur = this.cfgvalue(sid);
			// form.js Flag: the default written as nothing, unless rmempty is false
			if (this.rmempty !== false && v == String(this.default != null ? this.default : '0'))
				return cur == null ? undefined : uci.unset(this.map.config, sid, this.option);
			uci.set(this.map.config, sid, this.option, v);
		}
	});

	// DynamicList and MultiValue: one value per line of a text area (the test drives what
	// the views configure, not ui.js's own list widgets).
	var DynamicList = AbstractValue.extend({
		render: function(sid) {
			var v = this.cfgvalue(sid);
			v = v == null ? [] : (Array.isArray(v) ? v : String(v).split(/\s+/));
			return this.row(sid, E('textarea', { 'id': 'widget.' + this.cbid(sid), 'class': 'cbi-dynlist',
				'disabled': this.map.readonly ? 'disabled' : null }, v.join('\n')));
		},
		formvalue: function(sid) {
			var w = this.widget(sid);
			return w ? w.value.split(/\n/).map(function(s) { return s.trim(); }).filter(function(s) { return s.length; }) : null;
		}
	});

	var TypedSection = Class.extend({
		__init__: function(map, type, title, description) {
			this.map = map;
			this.sectiontype = type;
			this.title = title;
			this.description = description;
			this.children = [];
			this.tabs = [];
		},
		tab: function(name, title) { this.tabs.push([ name, title ]); },
		option: function(cls, option, title, description) {
			var o = new cls(this.map, this, option, title, description);
			this.children.push(o);
			return o;
		},
		taboption: function(tab, cls, option, title, description) {
			var o = this.option(cls, option, title, description);
			o.tab = tab;
			return o;
		},
		cfgsections: function() {
			return uci.sections(this.map.config, this.sectiontype).map(function(s) { return s['.name']; });
		},
		refreshDeps: function(sid) {
			this.children.forEach(function(o) {
				var row = document.getElementById('cbi-' + o.map.config + '-' + sid + '-' + o.option);
				if (row)
					row.style.display = o.active(sid) ? '' : 'none';
			});
		},
		renderSection: function(sid) {
			var self = this;
			var node = E('div', { 'class': 'cbi-section-node', 'id': 'cbi-' + this.map.config + '-' + sid, 'data-section-id': sid }, [
				this.anonymous ? '' : E('h3', {}, sid),
				this.children.map(function(o) { return o.render(sid); }),
				this.addremove ? E('button', { 'class': 'cbi-button cbi-button-remove', 'disabled': this.map.readonly ? 'disabled' : null,
					'click': function() { uci.remove(self.map.config, sid); node.remove(); } }, _('Delete')) : ''
			]);
			return node;
		},
		render: function() {
			var self = this, box = E('div', { 'class': 'cbi-section', 'id': 'cbi-' + this.map.config + '-' + this.sectiontype }, [
				this.title ? E('h3', {}, this.title) : '',
				this.description ? E('div', { 'class': 'cbi-section-descr' }, this.description) : ''
			]);
			this.cfgsections().forEach(function(sid) { box.appendChild(self.renderSection(sid)); });
			if (this.addremove) {
				var create = E('div', { 'class': 'cbi-section-create' });
				var add = function(name) {
					var sid = uci.add(self.map.config, self.sectiontype, name);
					var node = self.renderSection(sid);
					box.insertBefore(node, create);
					self.refreshDeps(sid);
				};
				if (this.anonymous)
					create.appendChild(E('button', { 'class': 'cbi-button cbi-button-add', 'title': _('Add'),
						'disabled': this.map.readonly ? 'disabled' : null, 'click': function() { add(null); } }, _('Add')));
				else {
					var name = E('input', { 'type': 'text', 'class': 'cbi-section-create-name', 'disabled': this.map.readonly ? 'disabled' : null });
					create.appendChild(E('div', {}, name));
					create.appendChild(E('button', { 'class': 'cbi-button cbi-button-add', 'title': _('Add'),
						'disabled': this.map.readonly ? 'disabled' : null, 'click': function() {
							if (datatypeOK('uciname', name.value))
								add(name.value);
							else
								name.classList.add('cbi-input-invalid');
						} }, _('Add')));
				}
				box.appendChild(create);
			}
			window.setTimeout(function() { self.cfgsections().forEach(function(sid) { self.refreshDeps(sid); }); }, 0);
			return box;
		},
		// The first invalid option's message, or null.
		check: function() {
			var self = this, error = null;
			this.cfgsections().forEach(function(sid) {
				self.children.forEach(function(o) {
					if (!o.check(sid) && !error)
						error = o.error;
				});
			});
			return error;
		},
		save: function() {
			var self = this;
			this.cfgsections().forEach(function(sid) {
				self.children.forEach(function(o) { o.save(sid); });
			});
		}
	});

	var NamedSection = TypedSection.extend({
		__init__: function(map, name, type, title, description) {
			this.super('__init__', [ map, type, title, description ]);
			this.name = name;
		},
		cfgsections: function() { return uci.get(this.map.config, this.name) ? [ this.name ] : []; }
	});

	var Map = Class.extend({
		__init__: function(config, title, description) {
			this.config = config;
			this.title = title;
			this.description = description;
			this.children = [];
			this.readonly = !!env.readonly;
			forms.push(this);
		},
		section: function(cls) {
			var args = [ this ].concat([].slice.call(arguments, 1));
			var s = Object.create(cls.prototype);
			cls.apply(s, args);
			this.children.push(s);
			return s;
		},
		render: function() {
			var self = this;
			return uci.load(this.config).then(function() {
				return E('div', { 'class': 'cbi-map', 'id': 'cbi-' + self.config }, [
					E('h2', {}, self.title),
					E('div', { 'class': 'cbi-map-descr' }, self.description),
					self.children.map(function(s) { return s.render(); })
				]);
			});
		},
		// form.js Map.save(): an invalid value is a "Save error" modal naming the option.
		save: function() {
			var error = this.children.map(function(s) { return s.check(); }).filter(function(e) { return e; })[0];
			if (error) {
				ui.showModal(_('Save error'), [
					E('p', {}, _('An error occurred while saving the form:')),
					E('p', {}, E('em', {}, error)),
					E('div', { 'class': 'right' }, E('button', { 'class': 'cbi-button', 'click': ui.hideModal }, _('Dismiss')))
				]);
				return Promise.reject(new Error(error));
			}
			this.children.forEach(function(s) { s.save(); });
			return uci.save();
		}
	});

	define('form', {
		Map: Map, TypedSection: TypedSection, NamedSection: NamedSection, GridSection: TypedSection,
		Value: Value, ListValue: ListValue, Flag: Flag, DynamicList: DynamicList, MultiValue: DynamicList
	});
})(window, document);
