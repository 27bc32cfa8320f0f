'use strict';
// n8n's editor in headless Chromium, driven the way a user drives it: real mouse clicks at the element's place,
// typed text, and what the page shows read back. Used by the end-to-end suite and by scripts/screenshot.js.
// Needs a global WebSocket (Node >= 22) and Debian's chromium (`apt-get install -y chromium`).
const { launchChromium, capture } = require('../chromium');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const js = (value) => JSON.stringify(value);

/** Page-side expressions that find one visible element. */
const visible = (selector) => `[...document.querySelectorAll(${js(selector)})].filter((e) => e.getBoundingClientRect().width > 0)`;
const byTestId = (id) => `${visible(`[data-test-id="${id}"]`)}[0]`;
/** The innermost visible element under `within` whose own text is exactly `text`. */
const byText = (text, within = '*') =>
	`${visible(`${within}, ${within} *`)}.find((e) => [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() === ${js(text)}))`;
/** The credential slot of the node panel whose label is `label`. */
const credentialSlot = (label) =>
	`${visible('[data-test-id="node-credentials-slot"]')}.find((e) => e.querySelector('[data-test-id="credentials-label"] label')?.textContent.trim() === ${js(label)})`;

/**
 * Opens the editor signed in as the stack's owner. Resolves { page, ...actions, close }.
 */
async function openEditor(stack, { width = 1600, height = 900 } = {}) {
	const browser = await launchChromium({ width, height });
	const { page } = browser;
	const evaluate = (expression) => page.evaluate(expression);

	async function waitFor(expression, what, timeoutMs = 15000) {
		const until = Date.now() + timeoutMs;
		for (;;) {
			const value = await evaluate(expression);
			if (value) return value;
			if (Date.now() > until) throw new Error(`the editor did not show ${what} within ${timeoutMs} ms`);
			await sleep(150);
		}
	}

	/** Clicks the middle of the element `expression` finds, as a mouse would. */
	async function click(expression, what) {
		const at = await waitFor(
			`(() => { const e = ${expression}; if (!e) return null; e.scrollIntoView({ block: 'center' }); const r = e.getBoundingClientRect(); return r.width ? { x: r.x + r.width / 2, y: r.y + r.height / 2 } : null; })()`,
			what,
		);
		for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased']) {
			await page.send('Input.dispatchMouseEvent', { type, x: at.x, y: at.y, button: 'left', clickCount: 1 });
		}
		await sleep(250);
	}

	async function type(text) {
		await page.send('Input.insertText', { text });
		await sleep(250);
	}

	const texts = (selector) => evaluate(`${visible(selector)}.map((e) => e.textContent.trim())`);

	await page.navigate(`${stack.n8n.url}/signin`);
	const login = await evaluate(`(async () => {
		const id = crypto.randomUUID();
		localStorage.setItem('n8n-browserId', id);
		const res = await fetch('/rest/login', {
			method: 'POST',
			credentials: 'include',
			headers: { 'content-type': 'application/json', 'browser-id': id },
			body: JSON.stringify(${js({ emailOrLdapLoginId: stack.owner.email, password: stack.owner.password })}),
		});
		return res.status;
	})()`);
	if (login !== 200) throw new Error(`signing in from the browser answered ${login}`);

	const editor = {
		page,
		click,
		type,
		waitFor,
		texts,
		byText,
		byTestId,
		close: () => browser.close(),

		/** A new workflow with the node added from the node creator, its action chosen; the node panel open. */
		async addNodeToNewWorkflow(nodeName, actionName) {
			await page.navigate(`${stack.n8n.url}/workflow/new`);
			await click(byTestId('canvas-add-button'), 'the "Add first step" button');
			const search = `(${byTestId('node-creator-search-bar')}?.querySelector('input') ?? ${byTestId('node-creator-search-bar')})`;
			const result = byText(nodeName, '[data-test-id="node-creator-item-name"]');
			// the search can open before it takes keys: type again (over what is there) until the node is listed
			for (let attempt = 1; ; attempt++) {
				await click(search, 'the node search');
				await evaluate(`${search}?.select?.()`);
				await type(nodeName);
				const listed = await waitFor(`!!${result}`, `"${nodeName}" in the node search`, 5000).catch((err) => {
					if (attempt === 3) throw err;
					return false;
				});
				if (listed) break;
			}
			await click(result, `"${nodeName}" in the node search`);
			await click(byText(actionName), `the action "${actionName}"`);
			await waitFor(`!!${byTestId('node-parameters')}`, 'the node panel');
			await sleep(500);
		},

		/** The labels of the node panel's credential slots, top to bottom. */
		credentialLabels: () => texts('[data-test-id="node-credentials-slot"] [data-test-id="credentials-label"] label'),

		/** The labels of the node panel's parameters, top to bottom. */
		parameterLabels: () => texts('[data-test-id="node-parameters"] [data-test-id="parameter-item"] [data-test-id="input-label"] label [class*="_title_"]'),

		/** What the credential slot `label` shows as selected (its input's value, or the placeholder). */
		selectedCredential: (label) =>
			evaluate(`(() => { const i = ${credentialSlot(label)}?.querySelector('input'); return i ? i.value || i.placeholder : null; })()`),

		/** Opens the list of the credential slot `label`; resolves the names of the existing credentials it offers. */
		async credentialChoices(label) {
			const items = visible('[data-test-id^="node-credentials-select-item-"]:not([data-test-id$="-new"])');
			for (let attempt = 0; attempt < 3; attempt++) {
				await click(`${credentialSlot(label)}?.querySelector('input')`, `the credential slot "${label}"`);
				const open = await waitFor(`${visible('[data-test-id="node-credentials-select-item-new"]')}.length > 0`, 'a credential list', 3000).catch(() => false);
				if (open) break;
			}
			await sleep(300);
			// each option shows the credential's name, then its type
			return evaluate(`${items}.map((e) => e.querySelector('[class*="optionName"]')?.textContent.trim())`);
		},

		/** Picks the credential `name` in the open credential list. */
		pickCredential: (name) => click(byText(name, '[data-test-id^="node-credentials-select-item-"]'), `the credential "${name}" in the list`),

		/** Opens the options parameter `name`, resolves its option names and picks `option`. */
		async chooseOption(parameter, option) {
			await click(`${byTestId(`parameter-input-${parameter}`)}?.querySelector('input')`, `the parameter "${parameter}"`);
			await waitFor(`${visible('.el-select-dropdown__item')}.length > 0`, `the options of "${parameter}"`);
			const names = await evaluate(`${visible('.el-select-dropdown__item .option-headline')}.map((e) => e.textContent.trim())`);
			await click(byText(option, '.el-select-dropdown__item .option-headline'), `the option "${option}"`);
			return names;
		},

		/** What the options parameter `name` shows as chosen. */
		optionShown: (parameter) => evaluate(`${byTestId(`parameter-input-${parameter}`)}?.querySelector('input')?.value ?? null`),

		async fill(parameter, text) {
			await click(`${byTestId(`parameter-input-${parameter}`)}?.querySelector('input, textarea, [contenteditable="true"]')`, `the parameter "${parameter}"`);
			await type(text);
		},

		/** Runs the open node ("Execute step") and resolves the first output item read from the output table. */
		async executeStep() {
			await click(byTestId('node-execute-button'), 'the "Execute step" button');
			await waitFor(
				`!!document.querySelector('[data-test-id="output-panel"] [data-test-id="node-run-status-success"], [data-test-id="output-panel"] [data-test-id="node-error-message"]')`,
				'a run of the node',
				60000,
			);
			const error = await evaluate(`document.querySelector('[data-test-id="output-panel"] [data-test-id="node-error-message"]')?.textContent.trim() ?? null`);
			if (error) throw new Error(`the node failed in the editor: ${error}`);
			const table = '[data-test-id="output-panel"] table';
			await click(`${visible('[data-test-id="output-panel"] [data-test-id="radio-button-table"]')}[0]`, 'the output\'s Table view');
			await waitFor(`!!document.querySelector('${table} tbody td')`, 'the output table');
			return evaluate(`(() => {
				const head = [...document.querySelectorAll('${table} thead th')].map((th) => th.textContent.trim());
				const cells = [...document.querySelector('${table} tbody tr').children].map((td) => td.textContent.trim());
				return Object.fromEntries(head.map((h, i) => [h, cells[i]]).filter(([h]) => h));
			})()`);
		},

		screenshot: (file) => capture(page, file),
	};
	return editor;
}

module.exports = { openEditor };
