// n8n's editor in headless Chromium, driven the way a user drives it: real mouse clicks at the element's place,
// typed text, and what the page shows read back. Used by the end-to-end suite and by scripts/screenshot.ts.
// Needs a global WebSocket (Node >= 22) and Debian's chromium (`apt-get install -y chromium`).
import { capture, launchChromium, type Page } from '../chromium';
import { sleep } from '../sleep';
import type { Stack } from './stack';

const js = (value: unknown) => JSON.stringify(value);

/** Page-side expressions that find one visible element. */
const visible = (selector: string) =>
	`[...document.querySelectorAll(${js(selector)})].filter((e) => e.getBoundingClientRect().width > 0)`;
const byTestId = (id: string) => `${visible(`[data-test-id="${id}"]`)}[0]`;
/** The innermost visible element under `within` whose own text is exactly `text`. */
const byText = (text: string, within = '*') =>
	`${visible(`${within}, ${within} *`)}.find((e) => [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() === ${js(text)}))`;
/** The credential slot of the node panel whose label is `label`. */
const credentialSlot = (label: string) =>
	`${visible('[data-test-id="node-credentials-slot"]')}.find((e) => e.querySelector('[data-test-id="credentials-label"] label')?.textContent.trim() === ${js(label)})`;

/** n8n's editor as the end-to-end suite and the screenshots drive it. */
export interface Editor {
	page: Page;
	/** Clicks the middle of the element `expression` finds, as a mouse would. */
	click(expression: string, what: string): Promise<void>;
	type(text: string): Promise<void>;
	/** The first truthy value of a page-side expression, polled until `timeoutMs`. */
	waitFor<T = unknown>(expression: string, what: string, timeoutMs?: number): Promise<T>;
	/** The trimmed texts of the visible elements `selector` finds. */
	texts(selector: string): Promise<string[]>;
	byText: typeof byText;
	byTestId: typeof byTestId;
	close(): Promise<void>;
	/** A new workflow with the node added from the node creator, its action chosen; the node panel open. */
	addNodeToNewWorkflow(nodeName: string, actionName: string): Promise<void>;
	/** The labels of the node panel's credential slots, top to bottom. */
	credentialLabels(): Promise<string[]>;
	/** The labels of the node panel's parameters, top to bottom. */
	parameterLabels(): Promise<string[]>;
	/** What the credential slot `label` shows as selected (its input's value, or the placeholder). */
	selectedCredential(label: string): Promise<string | null>;
	/** Opens the list of the credential slot `label`; resolves the names of the existing credentials it offers. */
	credentialChoices(label: string): Promise<(string | undefined)[]>;
	/** Picks the credential `name` in the open credential list. */
	pickCredential(name: string): Promise<void>;
	/** Opens the options parameter `parameter`, resolves its option names and picks `option`. */
	chooseOption(parameter: string, option: string): Promise<string[]>;
	/** What the options parameter `parameter` shows as chosen. */
	optionShown(parameter: string): Promise<string | null>;
	fill(parameter: string, text: string): Promise<void>;
	/**
	 * A resource locator in its "From List" mode: opens its list, types `search`, resolves the entries then listed and
	 * picks `entry`.
	 */
	pickFromList(parameter: string, search: string, entry: string): Promise<string[]>;
	/** Opens the mode selector of the resource locator `parameter`, resolves its mode names and picks `mode`. */
	chooseMode(parameter: string, mode: string): Promise<string[]>;
	/** A resource locator as shown: its mode's name and its value. */
	locatorShown(parameter: string): Promise<{ mode: string; value: string }>;
	/** Types `text` into the value input of the resource locator `parameter` (in a mode that takes text). */
	fillLocator(parameter: string, text: string): Promise<void>;
	/**
	 * Closes the node panel and clicks Save where there is one; resolves the workflow's id. With n8n's autosave on (no
	 * Save button) the workflow is stored a moment later: keep the editor open until it is.
	 */
	saveWorkflow(): Promise<string>;
	/**
	 * A new workflow filled from a workflow file through the editor's Import from File (its file input, as the menu
	 * entry opens it); resolves once the canvas shows `nodeCount` nodes.
	 */
	importFromFile(file: string, nodeCount: number): Promise<void>;
	/** The names of the canvas's nodes that show an issue (the warning n8n puts on a node). */
	nodesWithIssues(): Promise<string[]>;
	/** Runs the open node ("Execute step") and resolves the first output item read from the output table. */
	executeStep(): Promise<Record<string, string>>;
	screenshot(file: string): Promise<void>;
}

/** Opens the editor signed in as the stack's owner. */
export async function openEditor(
	stack: Pick<Stack, 'n8n' | 'owner'>,
	{ width = 1600, height = 900 } = {},
): Promise<Editor> {
	const browser = await launchChromium({ width, height });
	const { page } = browser;
	const evaluate = <T>(expression: string) => page.evaluate<T>(expression);

	async function waitFor<T>(expression: string, what: string, timeoutMs = 15000): Promise<T> {
		const until = Date.now() + timeoutMs;
		for (;;) {
			const value = await evaluate<T>(expression);
			if (value) return value;
			if (Date.now() > until)
				throw new Error(`the editor did not show ${what} within ${timeoutMs} ms`);
			await sleep(150);
		}
	}

	async function click(expression: string, what: string) {
		const locate = () =>
			waitFor<{ x: number; y: number }>(
				`(() => { const e = ${expression}; if (!e) return null; e.scrollIntoView({ block: 'center' }); const r = e.getBoundingClientRect(); return r.width ? { x: r.x + r.width / 2, y: r.y + r.height / 2 } : null; })()`,
				what,
			);
		// The node creator slides its actions in and a list drops open: a click at a place read mid-way lands on
		// another item (another action, another option) on a busy machine. Click once the element stays put.
		let at = await locate();
		for (let i = 0; i < 50; i++) {
			await sleep(100);
			const again = await locate();
			const settled = again.x === at.x && again.y === at.y;
			at = again;
			if (settled) break;
		}
		for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased']) {
			await page.send('Input.dispatchMouseEvent', {
				type,
				x: at.x,
				y: at.y,
				button: 'left',
				clickCount: 1,
			});
		}
		await sleep(250);
	}

	async function type(text: string) {
		await page.send('Input.insertText', { text });
		await sleep(250);
	}

	const texts = (selector: string) =>
		evaluate<string[]>(`${visible(selector)}.map((e) => e.textContent.trim())`);

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

	const editor: Editor = {
		page,
		click,
		type,
		waitFor,
		texts,
		byText,
		byTestId,
		close: () => browser.close(),

		async addNodeToNewWorkflow(nodeName, actionName) {
			await page.navigate(`${stack.n8n.url}/workflow/new`);
			// a new workflow's canvas loads the node types first: slow on a loaded machine
			await waitFor(`!!${byTestId('canvas-add-button')}`, 'the "Add first step" button', 60000);
			await click(byTestId('canvas-add-button'), 'the "Add first step" button');
			const search = `(${byTestId('node-creator-search-bar')}?.querySelector('input') ?? ${byTestId('node-creator-search-bar')})`;
			const result = byText(nodeName, '[data-test-id="node-creator-item-name"]');
			// the search can open before it takes keys: type again (over what is there) until the node is listed
			for (let attempt = 1; ; attempt++) {
				await click(search, 'the node search');
				await evaluate(`${search}?.select?.()`);
				await type(nodeName);
				const listed = await waitFor<boolean>(
					`!!${result}`,
					`"${nodeName}" in the node search`,
					5000,
				).catch((err) => {
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

		credentialLabels: () =>
			texts('[data-test-id="node-credentials-slot"] [data-test-id="credentials-label"] label'),

		parameterLabels: () =>
			texts(
				'[data-test-id="node-parameters"] [data-test-id="parameter-item"] [data-test-id="input-label"] label [class*="_title_"]',
			),

		selectedCredential: (label) =>
			evaluate(
				`(() => { const i = ${credentialSlot(label)}?.querySelector('input'); return i ? i.value || i.placeholder : null; })()`,
			),

		async credentialChoices(label) {
			const items = visible(
				'[data-test-id^="node-credentials-select-item-"]:not([data-test-id$="-new"])',
			);
			for (let attempt = 0; attempt < 3; attempt++) {
				await click(
					`${credentialSlot(label)}?.querySelector('input')`,
					`the credential slot "${label}"`,
				);
				const open = await waitFor<boolean>(
					`${visible('[data-test-id="node-credentials-select-item-new"]')}.length > 0`,
					'a credential list',
					3000,
				).catch(() => false);
				if (open) break;
			}
			await sleep(300);
			// each option shows the credential's name, then its type
			return evaluate(
				`${items}.map((e) => e.querySelector('[class*="optionName"]')?.textContent.trim())`,
			);
		},

		pickCredential: (name) =>
			click(
				byText(name, '[data-test-id^="node-credentials-select-item-"]'),
				`the credential "${name}" in the list`,
			),

		async chooseOption(parameter, option) {
			await click(
				`${byTestId(`parameter-input-${parameter}`)}?.querySelector('input')`,
				`the parameter "${parameter}"`,
			);
			await waitFor(
				`${visible('.el-select-dropdown__item')}.length > 0`,
				`the options of "${parameter}"`,
			);
			const names = await evaluate<string[]>(
				`${visible('.el-select-dropdown__item .option-headline')}.map((e) => e.textContent.trim())`,
			);
			await click(
				byText(option, '.el-select-dropdown__item .option-headline'),
				`the option "${option}"`,
			);
			return names;
		},

		optionShown: (parameter) =>
			evaluate(
				`${byTestId(`parameter-input-${parameter}`)}?.querySelector('input')?.value ?? null`,
			),

		async fill(parameter, text) {
			await click(
				`${byTestId(`parameter-input-${parameter}`)}?.querySelector('input, textarea, [contenteditable="true"]')`,
				`the parameter "${parameter}"`,
			);
			await type(text);
		},

		async pickFromList(parameter, search, entry) {
			// the locator's inputs: its mode selector, then its value (which opens the list)
			await click(
				`[...(${byTestId(`parameter-input-${parameter}`)}?.querySelectorAll('input') ?? [])].pop()`,
				`the list of "${parameter}"`,
			);
			const searchBoxes = visible('[data-test-id="rlc-search"]');
			await click(
				`${searchBoxes}.map((e) => (e.matches('input') ? e : e.querySelector('input')))[0]`,
				`the search of "${parameter}"`,
			);
			await type(search);
			const item = byText(entry, '[data-test-id="rlc-item"] span');
			await waitFor(`!!${item}`, `"${entry}" in the list of "${parameter}"`);
			const listed = await texts('[data-test-id="rlc-item"] span');
			await click(item, `"${entry}" in the list of "${parameter}"`);
			return listed;
		},

		async chooseMode(parameter, mode) {
			await click(
				`${byTestId(`parameter-input-${parameter}`)}?.querySelector('[data-test-id="rlc-mode-selector"] input')`,
				`the mode selector of "${parameter}"`,
			);
			await waitFor(
				`${visible('.el-select-dropdown__item')}.length > 0`,
				`the modes of "${parameter}"`,
			);
			const names = await texts('.el-select-dropdown__item');
			await click(byText(mode, '.el-select-dropdown__item'), `the mode "${mode}"`);
			return names;
		},

		locatorShown: (parameter) =>
			evaluate(`(() => {
				const input = ${byTestId(`parameter-input-${parameter}`)};
				return {
					mode: input?.querySelector('[data-test-id="rlc-mode-selector"] input')?.value ?? null,
					value: [...(input?.querySelectorAll('input') ?? [])].pop()?.value ?? null,
				};
			})()`),

		async fillLocator(parameter, text) {
			await click(
				`[...(${byTestId(`parameter-input-${parameter}`)}?.querySelectorAll('input') ?? [])].pop()`,
				`the value of "${parameter}"`,
			);
			await type(text);
		},

		async saveWorkflow() {
			await click(byTestId('ndv-close-button'), "the node panel's close button");
			await waitFor(`!${byTestId('node-parameters')}`, 'the canvas');
			// the Save button is there only when n8n's autosave is off
			const save = `${visible('[data-test-id="workflow-save-button"]')}.find((e) => !e.disabled && !e.closest('[disabled]'))`;
			if (await evaluate<boolean>(`!!${save}`)) await click(save, 'the Save button');
			return waitFor<string>(
				`(() => { const b = document.querySelector('[data-test-id="workflow-save-button"]'); const id = location.pathname.match(/^\\/workflow\\/([^/]+)$/)?.[1]; return (!b || b.textContent.trim() === 'Saved') && id !== 'new' && id; })()`,
				'the workflow saved',
				30000,
			);
		},

		async importFromFile(file, nodeCount) {
			await page.navigate(`${stack.n8n.url}/workflow/new`);
			const input = '[data-test-id="workflow-import-input"]';
			await waitFor(`!!document.querySelector(${js(input)})`, 'the Import from File input', 30000);
			const { root } = await page.send<{ root: { nodeId: number } }>('DOM.getDocument', {});
			const { nodeId } = await page.send<{ nodeId: number }>('DOM.querySelector', {
				nodeId: root.nodeId,
				selector: input,
			});
			await page.send('DOM.setFileInputFiles', { nodeId, files: [file] });
			await waitFor(
				`document.querySelectorAll('[data-test-id="canvas-node"]').length === ${nodeCount}`,
				`${nodeCount} nodes on the canvas`,
				30000,
			);
			await sleep(1000); // the issues are set once the nodes are placed
		},

		nodesWithIssues: () =>
			evaluate(
				`[...document.querySelectorAll('[data-test-id="canvas-node"]')].filter((e) => e.querySelector('[data-test-id="node-issues"]')).map((e) => e.dataset.nodeName)`,
			),

		async executeStep() {
			await click(byTestId('node-execute-button'), 'the "Execute step" button');
			await waitFor(
				`!!document.querySelector('[data-test-id="output-panel"] [data-test-id="node-run-status-success"], [data-test-id="output-panel"] [data-test-id="node-error-message"]')`,
				'a run of the node',
				60000,
			);
			const error = await evaluate<string | null>(
				`document.querySelector('[data-test-id="output-panel"] [data-test-id="node-error-message"]')?.textContent.trim() ?? null`,
			);
			if (error) throw new Error(`the node failed in the editor: ${error}`);
			const table = '[data-test-id="output-panel"] table';
			await click(
				`${visible('[data-test-id="output-panel"] [data-test-id="radio-button-table"]')}[0]`,
				"the output's Table view",
			);
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
