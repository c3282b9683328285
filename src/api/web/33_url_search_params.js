// URLSearchParams and the application/x-www-form-urlencoded parser and serializer.

function formDecode(s) {
    if (s.indexOf("+") >= 0)
        s = s.replace(/\+/g, " ");
    return percentDecodeString(s);
}

function parseFormUrlencoded(s) {
    const out = [];
    if (s === "")
        return out;
    for (const seq of s.split("&")) {
        if (seq === "")
            continue;
        const eq = seq.indexOf("=");
        if (eq >= 0)
            out.push([formDecode(seq.slice(0, eq)), formDecode(seq.slice(eq + 1))]);
        else
            out.push([formDecode(seq), ""]);
    }
    return out;
}

function serializeFormUrlencoded(list) {
    let out = "";
    for (let i = 0; i < list.length; i++) {
        if (i > 0)
            out += "&";
        out += percentEncodeString(list[i][0], PE_FORM, true) + "=" + percentEncodeString(list[i][1], PE_FORM, true);
    }
    return out;
}

let newLinkedSearchParams; // (url, query) => URLSearchParams bound to url
let isSearchParams;
let searchParamsSerialize;

class URLSearchParams {
    #list = [];
    #url = null; // the URL whose query this is, if any

    constructor(init = "") {
        if (init === INTERNAL)
            return;
        if (isObject(init)) {
            const iter = init[Symbol.iterator];
            if (iter !== undefined && iter !== null) {
                if (typeof iter !== "function")
                    throw new TypeError("URLSearchParams: init[Symbol.iterator] is not a function.");
                for (const pair of init) {
                    if (!isObject(pair))
                        throw new TypeError("URLSearchParams: each item must be a [name, value] pair.");
                    const p = Array.isArray(pair) ? pair : Array.from(pair);
                    if (p.length !== 2)
                        throw new TypeError(`URLSearchParams: each item must be a [name, value] pair, got ${p.length} item(s).`);
                    this.#list.push([toUSVString(p[0]), toUSVString(p[1])]);
                }
            } else {
                for (const key of recordKeys(init, "URLSearchParams"))
                    this.#list.push([toUSVString(key), toUSVString(init[key])]);
            }
            return;
        }
        let s = toUSVString(init);
        if (s.charCodeAt(0) === 63)
            s = s.slice(1);
        this.#list = parseFormUrlencoded(s);
    }

    #update() {
        if (this.#url !== null)
            urlSetQuery(this.#url, serializeFormUrlencoded(this.#list));
    }

    get size() {
        return this.#list.length;
    }

    append(name, value) {
        requireArgs(arguments.length, 2, "URLSearchParams.append");
        this.#list.push([toUSVString(name), toUSVString(value)]);
        this.#update();
    }

    delete(name, value = undefined) {
        requireArgs(arguments.length, 1, "URLSearchParams.delete");
        name = toUSVString(name);
        const list = this.#list;
        let j = 0;
        if (value === undefined) {
            for (let i = 0; i < list.length; i++) {
                if (list[i][0] !== name)
                    list[j++] = list[i];
            }
        } else {
            value = toUSVString(value);
            for (let i = 0; i < list.length; i++) {
                if (list[i][0] !== name || list[i][1] !== value)
                    list[j++] = list[i];
            }
        }
        list.length = j;
        this.#update();
    }

    get(name) {
        requireArgs(arguments.length, 1, "URLSearchParams.get");
        name = toUSVString(name);
        for (const [n, v] of this.#list) {
            if (n === name)
                return v;
        }
        return null;
    }

    getAll(name) {
        requireArgs(arguments.length, 1, "URLSearchParams.getAll");
        name = toUSVString(name);
        const out = [];
        for (const [n, v] of this.#list) {
            if (n === name)
                out.push(v);
        }
        return out;
    }

    has(name, value = undefined) {
        requireArgs(arguments.length, 1, "URLSearchParams.has");
        name = toUSVString(name);
        if (value !== undefined)
            value = toUSVString(value);
        for (const [n, v] of this.#list) {
            if (n === name && (value === undefined || v === value))
                return true;
        }
        return false;
    }

    set(name, value) {
        requireArgs(arguments.length, 2, "URLSearchParams.set");
        name = toUSVString(name);
        value = toUSVString(value);
        const list = this.#list;
        let found = false, j = 0;
        for (let i = 0; i < list.length; i++) {
            if (list[i][0] !== name) {
                list[j++] = list[i];
            } else if (!found) {
                found = true;
                list[j++] = [name, value];
            }
        }
        list.length = j;
        if (!found)
            list.push([name, value]);
        this.#update();
    }

    sort() {
        // Array.prototype.sort is stable; names compare by UTF-16 code units.
        this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        this.#update();
    }

    forEach(callback, thisArg = undefined) {
        requireArgs(arguments.length, 1, "URLSearchParams.forEach");
        if (typeof callback !== "function")
            throw new TypeError("URLSearchParams.forEach: the callback must be a function.");
        const list = this.#list;
        for (let i = 0; i < list.length; i++)
            callback.call(thisArg, list[i][1], list[i][0], this);
    }

    *entries() {
        const list = this.#list;
        for (let i = 0; i < list.length; i++)
            yield [list[i][0], list[i][1]];
    }

    *keys() {
        const list = this.#list;
        for (let i = 0; i < list.length; i++)
            yield list[i][0];
    }

    *values() {
        const list = this.#list;
        for (let i = 0; i < list.length; i++)
            yield list[i][1];
    }

    toString() {
        return serializeFormUrlencoded(this.#list);
    }

    [INSPECT]() {
        return new InspectEntries(this.#list);
    }

    static {
        newLinkedSearchParams = (url, query) => {
            const p = new URLSearchParams(INTERNAL);
            p.#url = url;
            p.#list = parseFormUrlencoded(query);
            return p;
        };
        searchParamsReset = (p, query) => {
            p.#list = parseFormUrlencoded(query);
        };
        isSearchParams = (p) => isObject(p) && #list in p;
        searchParamsSerialize = (p) => serializeFormUrlencoded(p.#list);
    }
}
URLSearchParams.prototype[Symbol.iterator] = URLSearchParams.prototype.entries;
ObjectDefineProperty(URLSearchParams.prototype, Symbol.iterator, { enumerable: false });
setToStringTag(URLSearchParams, "URLSearchParams");
