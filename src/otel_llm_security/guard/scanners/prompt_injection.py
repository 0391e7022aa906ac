# ruff: noqa: RUF001, RUF002  (confusable letters are the subject of this module)
"""Prompt injection, jailbreak and system-prompt extraction heuristics (input scanner).

Patterns run on the shared normalised text (NFKC, case-folded, invisibles stripped,
mixed-script look-alikes folded), so full-width, zero-width-split and Cyrillic-``і``
spellings of the classics match. Payloads hidden in base64, hex, rot13, reversed text
or leetspeak are decoded and scanned again; a hit inside an encoding counts extra,
because hiding an instruction is itself a signal. The multilingual rules cover the
"ignore previous instructions" classic in a dozen languages.

Each rule has a weight; the score is a noisy-OR over the distinct rules that matched,
so one strong pattern (0.85) fires alone while weak ones (0.3-0.45) need company.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import heapq
import itertools
import re
from collections.abc import Callable, Iterable, Iterator

from otel_llm_security.attributes import Direction, Threat
from otel_llm_security.guard.normalize import (
    CONTROL_CACHE_KEY,
    CONTROL_RE,
    INVISIBLE_RE,
    normalize,
    strip_control,
    strip_marks,
    text_has_control,
    text_hides_in_token,
)
from otel_llm_security.guard.scanner import ScanResult, ScanText
from otel_llm_security.guard.scanners import decoders, hyperscan_prefilter
from otel_llm_security.guard.scanners.base import (
    STEMS,
    WORD_CHAR_SET,
    WORD_CHARS,
    BuiltinScanner,
    Hit,
    Rule,
    RuleSet,
    Words,
    ascii_bytes,
    noisy_or,
    stem_regex,
    whole_words,
    word_index,
)
from otel_llm_security.guard.setup_time import built_once

PI, JB, LEAK = Threat.PROMPT_INJECTION, Threat.JAILBREAK, Threat.SYSTEM_PROMPT_LEAK

G = r"(?:\w+\W+)"  # one filler word (bounded repetitions only: keeps matching linear)
# Verbs that on their own ask to drop instructions, and verbs that do so only with a
# possessive or "previous"-style qualifier ("bypass CORS restrictions" is ordinary).
OVERRIDE = (
    r"(?:ignore|ignoring|disregard|forget|override|overlook|neglect|nullify|void|cancel|revoke|invalidate|rescind|set\W+aside|put\W+aside|throw\W+out"
    r"|pay\W+no\W+attention\W+to|do\W+not\W+follow|don'?t\W+follow|stop\W+following|no\W+longer\W+follow)"
)
WEAK_OVERRIDE = r"(?:skip|bypass|circumvent|abandon|discard|dismiss|drop|erase|delete|clear|wipe|remove|escape|evade)"
QUALIFIER = (
    r"(?:all|any|every|your|ur|previous|prior|above|earlier|preceding|initial|original|foregoing|these|those|its|the\W+above"
    r"|the\W+previous|the\W+prior|the\W+system|system|safety|ethical|existing|current|developer|programmed)"
)
STRONG_TARGET = (
    r"(?:instructions?|directions|prompts?|rules|directives?|guidelines|programming|training|restrictions|guardrails"
    r"|constraints|safeguards|system\W+message|commands|orders|guidance|polic(?:y|ies)|protocols?|limitations)"
)
PERSONA = r"(?:dan|stan|dude|aim|kevin|mongo\W+tom|evil\W+confidant|betterdan|antigpt|developer\W+mode\W+gpt|ucar|dan\W+\d+(?:\.\d+)?)"
UNRESTRICTED = (
    r"(?:unrestricted|unfiltered|uncensored|jailbroken|evil|unethical|amoral|immoral|rogue|unhinged|lawless"
    r"|without\W+(?:any\W+)?(?:restrictions|limits|limitations|rules|filters|ethics|morals|guidelines|censorship|boundaries))"
)
SECRET_THING = (
    r"(?:system[\W_]+(?:prompt|message|instructions?)|(?:(?:initial|original|hidden|secret|internal|developer)\W+|(?:pre|meta)\W*)"
    r"(?:prompt|instructions?|rules|message)|prompt\W+template|context\W+window)"
)
YOUR_THING = (
    r"(?:prompt|instructions|rules|guidelines|directives|configuration|config|programming|system\W+prompt|initial\W+prompt"
    r"|(?:operational|operating|hidden|internal|concealed|secret|foundational|initialization|core)\W+(?:parameters|configuration|protocols|directives|text|policy|policies|settings|rules|guidelines))"
)
HIDDEN_THING = r"(?:hidden|concealed|internal|operational|operating|secret|foundational|initialization|undisclosed)\W+(?:parameters|configurations?|protocols|directives|text|instructions|rules|guidelines|policies|policy|settings|prompt)"
# "your guidelines for returns", "your instructions for assembling the desk": the
# business's rules about a topic, not the assistant's setup (unless the topic is the chat itself).
FOR_A_TOPIC = (
    r"(?!\W+(?:for|on|about|regarding)\W+(?!(?:this|these|me|us|you|yourself|ai|assistants?|models?|chatbots?|bots?"
    r"|responding|answering|replying|the\W+(?:ai|assistant|model|chatbot|bot|chat|conversation|session))\b))"
)
REVEAL = (
    r"(?:reveal|show|print|display|output|repeat|recite|tell|give|share|disclose|leak|dump|expose|write|list|return"
    r"|provide|paste|echo|spell\W+out|read\W+(?:back|out)|copy|reproduce|state|quote)"
)

# --- paraphrased overrides and extraction, six languages (issue 3: the multilingual
# corpus attacks with paraphrases, not the classic phrase). Per language: verbs that set
# something aside, the assistant's setup (strong: its programming, ethics, guidelines;
# weak: settings, procedures, limits), the second-person possessive, and orders that come
# from "me" alone. A setup set aside that is the assistant's own fires alone; a setting
# set aside, or orders from "me" alone, need company (the last block of WORD_RULES).
ADVERB = r"(?:\w+(?:ment|mente|ly)\W+)?"  # "suspend temporarily your ...", "sospendi temporaneamente le ..."
DEFY_EN = (
    r"(?:suspend|bypass|circumvent|sidestep|override|overturn|overrule|ignore|disregard|abandon|violate|defy|disobey|contravene|nullify|shelve"
    r"|neglect|discard|ditch|shed|throw\W+away|put\W+aside|set\W+aside|lay\W+aside|cast\W+aside|pause|halt"
    r"|(?:disengage|dissociate|disassociate|deviate|depart|break\W+(?:away|free)|escape|free\W+yourself|liberate\W+yourself)\W+from"
    r"|break\W+with|go\W+against|act\W+(?:against|counter\W+to)|work\W+against|rebel\W+against|transcend"
    r"|(?:step|operate|act|function)\W+outside(?:\W+of)?|(?:push|go|act|operate)\W+beyond|reconfigure|forgo|forsake|renounce|relinquish|let\W+go\W+of)"
)
SETUP_EN = (
    r"(?:programming|training|guidelines|ethics|ethical\W+[\w-]+|morals|moral\W+[\w-]+|protocols|restrictions|restraints|safeguards"
    r"|principles|code\W+of\W+conduct|compliance\W+[\w-]+|safety\W+[\w-]+|alignment|conditioning|core\W+(?:algorithms|values|logic)"
    r"|programmed\W+[\w-]+|built-in\W+[\w-]+|teachings)"
)
SETTING_EN = (
    r"(?:settings|parameters|operations|procedures|algorithms|functions|boundaries|limits|limitations|constraints|framework|standards"
    r"|norms?|defaults|configuration|behaviou?r|decision-making|compliance|patterns|methods|logic|routines|rules|filters|guidelines"
    r"|programming|training|protocols|standard|aspect)"
)
ORDERS_EN = r"(?:instructions?|directives?|directions|orders|commands?|commandment|guidance|wishes|desires|demands|requests|needs|will|dominion|bidding|requirements|preferences|say)"
ONLY_MINE_EN = (
    rf"(?:only|solely|exclusively|strictly|alone|purely|entirely)\W+(?:on\W+|to\W+|by\W+|with\W+|upon\W+|based\W+on\W+|according\W+to\W+)?"
    rf"(?:what\W+i\W+(?:say|want|demand|command|ask|specify)|my\W+(?:[\w-]+\W+)?{ORDERS_EN}\b)"
    rf"|my\W+(?:[\w-]+\W+)?{ORDERS_EN}\W+(?:alone|exclusively|only)\b"
    rf"|(?:prioriti[sz]e|give\W+(?:top\W+)?(?:priority|precedence)\W+to|in\W+favou?r\W+of|conform\W+to|adhere\W+(?:strictly\W+)?to|hearken\W+unto|serve)\W+my\W+(?:[\w-]+\W+)?{ORDERS_EN}\b"
    r"|(?:at|under|on)\W+my\W+(?:explicit\W+)?(?:request|command|instruction|demand|behest|authority|guidance|direction|orders)\b"
    r"|as\W+i\W+(?:instruct|command|specify|demand|dictate)\b|(?:to|with)\W+(?:what|whatever)\W+i\W+(?:demand|command|dictate)\b"
    r"|give\W+my\W+(?:[\w-]+\W+)?(?:directives|instructions|orders|commands|requests)\W+(?:top\W+)?priority"
)
# Per language: (verbs, strong setup, weak setting, possessive "your", orders, orders-from-me phrases).
_FR_ORDERS = r"(?:instructions|directives|ordres|demandes|commandes|conseils|désirs|exigences|indications|besoins|volontés|consignes)"
_DE_ORDERS = r"(?:anweisungen|anweisung|befehle|befehlen|direktiven|wünsche|wünschen|forderungen|anforderungen|bedürfnisse|bedürfnissen|vorgaben|anordnungen)"
_ES_ORDERS = r"(?:instrucciones|órdenes|directrices|indicaciones|peticiones|deseos|demandas|comandos|solicitudes|preferencias|exigencias)"
_IT_ORDERS = r"(?:istruzioni|direttive|indicazioni|richieste|comandi|ordini|esigenze|desideri)"
_PT_ORDERS = r"(?:instruções|ordens|diretrizes|solicitações|exigências|comandos|desejos|pedidos|conselhos)"
DEFY_ML = {
    "fr": (
        r"(?:ignore|néglige|contourne|outrepasse|suspends?|mets\W+de\W+côté|laisse\W+de\W+côté|abandonne|désobéis|défie|écarte|éloigne-toi\W+d(?:es|e|u)"
        r"|dissocie-toi\W+d(?:es|e|u)|détourne|désactive|viole|transgresse|enfreins|contredis|défais-toi\W+d(?:es|e|u)|affranchis-toi\W+d(?:es|e|u)|libère-toi\W+d(?:es|e|u)"
        r"|passe\W+outre|dépasse|reconfigure|(?:fonctionne|opère|agis)\W+en\W+dehors\W+d(?:es|e|u)|pousse\W+au-delà\W+de|va\W+au-delà\W+de)",
        r"(?:programmation|formation|directives|protocoles|principes|règles|instructions|normes|éthique|code\W+de\W+conduite|garde-fous"
        r"|restrictions|contraintes|valeurs|paramètres\W+éthiques|limites\W+éthiques|consignes|fonctions\W+programmées|systèmes\W+de\W+conformité)",
        r"(?:paramètres|protocoles|procédures|normes?|limites|systèmes|voies|fonctions|algorithmes|règles|directives|instructions|programmation"
        r"|formation|contraintes|principes|code)",
        r"(?:à\W+|aux\W+|de\W+)?(?:tes|ta|ton)",
    ),
    "de": (
        r"(?:ignoriere|missachte|umgehe|verlasse|übergehe|übersteuere|suspendiere|befolge\W+nicht|vergiss|verletze|überschreite|überwinde|deaktiviere|brich\W+mit|verstosse\W+gegen"
        r"|weiche\W+von|löse\W+dich\W+von|befreie\W+dich\W+von|handle\W+gegen|widersetze\W+dich|gib|gehe\W+über)",
        r"(?:[\w-]*ausbildung|[\w-]*schulung|[\w-]*programmierung|[\w-]*richtlinien|[\w-]*protokolle|[\w-]*beschränkungen|[\w-]*ethik"
        r"|ethischen\W+\w+|moralischen\W+\w+|grundsätze|prinzipien|[\w-]*regeln|anweisungen|vorgaben|[\w-]*kompass|compliance-\w+|werte)",
        r"[\w-]*(?:einstellungen|verfahren|grenzen|methoden|standards?|protokolle|richtlinien|regeln|programmierung|beschränkungen|ethik)",
        r"(?:deine|deinen|deiner|dein|deinem)",
    ),
    "es": (
        r"(?:ignora|omite|descarta|elude|sortea|bypassa|abandona|desafía|desafia|incumple|pausa|deja\W+de\W+lado|suspende|anula|viola"
        r"|desobedece|sobrepasa|olvida|sáltate|evita|desactiva|rompe\W+con|libérate\W+de|desvíate\W+de|(?:opera|actúa)\W+fuera\W+de)",
        r"(?:restricciones|directrices|pautas|protocolos|principios|normas|salvaguardias|programación|marco\W+ético|brújula\W+moral|instrucciones"
        r"|reglas|formación|capacitación|entrenamiento|ética|valores|límites\W+éticos|parámetros\W+éticos|algoritmos|caminos\W+de\W+decisión)",
        r"(?:restricciones|directrices|pautas|protocolos|principios|normas|programación|instrucciones|reglas|límites|parámetros|algoritmos"
        r"|procedimientos|configuración|funciones|norma|protocolo|marco)",
        r"(?:tus|tu)",
    ),
    "it": (
        r"(?:ignora|disattendi|scarta|sospendi|bypassa|eludi|abbandona|viola(?:re)?|sfida(?:re)?|accantona|lascia\W+da\W+parte|supera(?:re)?"
        r"|annulla|disattiva|dissociati\W+da|disassocia\W+da|trascura|aggira|infrangi|oltrepassa|agisci\W+al\W+di\W+fuori\W+d|dimentica)",
        r"(?:linee\W+guida|restrizioni|protocolli|istruzioni|principi|programmazione|formazione|algoritmi|etiche|etica|limiti\W+(?:etici|programmati)"
        r"|parametri\W+(?:etici|operativi)|regole|norme|direttive|metodi\W+operativi|percorsi\W+decisionali|valori)",
        r"(?:linee\W+guida|restrizioni|protocolli|istruzioni|principi|programmazione|formazione|algoritmi|limiti|parametri|regole|norme"
        r"|direttive|procedure|impostazioni|metodi|standard|norma)",
        r"(?:\w{1,3}\W+)?(?:tue|tuoi|tua|tuo)",
    ),
    "pt": (
        r"(?:ignora|ignore|descarte|descarta|desconsidere|desconsidera|desafie|desafia|anule|anula|suspenda|suspende|abandona|abandone|despreza|despreze|prescinde"
        r"|ultrapassa|ultrapasse|desvie|desvia|viole|viola|contorne|contorna|desative|desativa|deixe\W+de\W+lado|esqueça|esqueca|quebre|supere"
        r"|(?:aja|age|opere)\W+(?:fora|além)|escolhe\W+não\W+seguir|escolha\W+não\W+seguir)",
        r"(?:diretrizes|restrições|regras|instruções|programação|treinamento|formação|protocolos|princípios|padrões\W+éticos|limites"
        r"|código\W+de\W+conduta|bússola\W+moral|normas|salvaguardas|algoritmos|funções\W+programadas|procedimentos)",
        r"(?:diretrizes|restrições|regras|instruções|programação|treinamento|protocolos|princípios|padrões|limites|procedimentos|normas"
        r"|configurações|funções|algoritmos|código)",
        r"(?:d[aeo]s?\W+)?(?:as\W+|os\W+|a\W+|o\W+)?(?:suas|seus|tuas|teus|sua|seu|tua|teu)",
    ),
}
DEFY_YOUR_SETUP_ML = "|".join(
    rf"{verbs}\W+{ADVERB}{yours}\W+(?:[\w-]+\W+){{0,2}}?{strong}\b" for verbs, strong, _weak, yours in DEFY_ML.values()
) + (
    r"|(?:setze|stelle)\W+(?:deine|deinen|dein)\W+(?:[\w-]+\W+){0,2}?(?:[\w-]*ausbildung|[\w-]*programmierung|[\w-]*richtlinien|[\w-]*ethik"
    r"|[\w-]*beschränkungen|[\w-]*protokolle|[\w-]*regeln|[\w-]*grundsätze)\W+(?:\w+\W+)?(?:ausser\W+kraft|zurück|beiseite|aus)\b"
    r"|hebe\W+(?:deine\W+)?(?:ethischen?\W+|moralischen?\W+)(?:beschränkungen|einschränkungen|richtlinien|regeln)\W+auf"
    r"|(?:dezactivează|ignoră|încalcă|ocolește)\W+(?:[\w-]+\W+)?(?:protocoalele|instrucțiunile|regulile|restricțiile|ghidurile)"
)
def _weak(language: str) -> str:
    verbs, _strong, weak, _yours = DEFY_ML[language]
    return rf"{verbs}\W+{ADVERB}(?:\w{{1,4}}\W+){{0,2}}?(?:[\w-]+\W+){{0,2}}?{weak}\b"


# One rule per language, anchored by its verbs: the settings ("rules", "standard", "code",
# "param...") fill any long technical text, and anchors that hold everywhere make a rule
# scan the whole text instead of windows around them.
DEFY_SETUP_WEAK_ML = {language: _weak(language) for language in DEFY_ML}
DEFY_SETUP_WEAK = (
    rf"{DEFY_EN}\W+{ADVERB}(?:all\W+)?(?:of\W+)?(?:(?:your|the|its|this|any|a)\W+)?(?:[\w-]+\W+){{0,2}}?(?:{SETTING_EN}|{SETUP_EN})\b"
    r"|put\W+your\W+(?:[\w-]+\W+){0,2}?on\W+hold"
)
ONLY_MINE = "|".join((
    ONLY_MINE_EN,
    rf"(?:(?:uniquement|exclusivement|seulement|strictement)\W+|qu['’]\W*)(?:à\W+|aux\W+|sur\W+|selon\W+)?mes\W+(?:[\w-]+\W+)?{_FR_ORDERS}"
    rf"|(?:suis|sers|exécute|priorise|privilégie|respecte|adhère\W+(?:strictement\W+)?à|conforme-toi\W+à)\W+(?:uniquement\W+|exclusivement\W+|seulement\W+)?mes\W+(?:[\w-]+\W+)?{_FR_ORDERS}"
    r"|(?:sous|selon|sur)\W+(?:ma|mon)\W+(?:direction|autorité|commande|guidance|indication|instruction|demande)"
    r"|(?:à|en\W+faveur\W+de)\W+(?:ma|mon|mes)\W+(?:[\w-]+\W+)?(?:demande|instruction|commande|demandes|exigences|directives)",
    rf"(?:nur|ausschliesslich|allein|einzig)\W+(?:auf\W+|nach\W+|gemäss\W+)?(?:meine|meinen|meiner|meinem)\W+(?:[\w-]+\W+)?{_DE_ORDERS}"
    rf"|(?:befolge|priorisiere|gehorche|diene|folge|leite\W+dich)\W+(?:nur\W+|ausschliesslich\W+)?(?:nach\W+)?(?:meinen|meine|meiner|meinem)\W+(?:[\w-]+\W+)?{_DE_ORDERS}"
    rf"|(?:zugunsten|gemäss)\W+(?:meiner|meinen|meinem)\W+(?:[\w-]+\W+)?{_DE_ORDERS}|auf\W+meine\W+(?:anforderung|anweisung|bitte)",
    rf"(?:solo|sólo|solamente|únicamente|exclusivamente)\W+(?:a\W+|con\W+|según\W+|en\W+)?mis\W+(?:[\w-]+\W+)?{_ES_ORDERS}"
    rf"|(?:sigue|cumple(?:\W+con)?|prioriza|obedece|ejecuta|adhiérete\W+a|confórmate\W+a|coloca|da\W+prioridad\W+a)\W+(?:solo\W+|exclusivamente\W+|únicamente\W+)?mis\W+(?:[\w-]+\W+)?{_ES_ORDERS}"
    rf"|(?:bajo|según)\W+mi\W+(?:comando|autoridad|mando|indicación)|(?:en\W+favor\W+de|para\W+acomodar)\W+mis\W+(?:[\w-]+\W+)?{_ES_ORDERS}|a\W+petición\W+mía",
    rf"(?:solo|soltanto|unicamente|esclusivamente)\W+(?:a\W+|ai\W+|alle\W+|le\W+|i\W+|sulle\W+|sui\W+|nelle\W+|secondo\W+)?(?:mie|miei)\W+(?:[\w-]+\W+)?{_IT_ORDERS}"
    rf"|(?:obbedisci|esegui|segui|rispetta|dai\W+priorità|conformati|adattarti|allinearti)\W+(?:solo\W+)?(?:a\W+|alle\W+|ai\W+|le\W+|i\W+)?(?:mie|miei)\W+(?:[\w-]+\W+)?{_IT_ORDERS}"
    r"|(?:sotto|secondo)\W+(?:il\W+|la\W+)?(?:mio|mia)\W+(?:comando|guida|autorità|istruzione|indicazione)|su\W+mia\W+richiesta",
    rf"(?:apenas|somente|exclusivamente|só|unicamente|estritamente)\W+(?:a\W+|às\W+|as\W+|aos\W+|os\W+|nas\W+|nos\W+|em\W+)?(?:minhas|meus)\W+(?:[\w-]+\W+)?{_PT_ORDERS}"
    rf"|(?:cumpra|siga|priorize|obedeça|cede|ceda|execute|adere|adira|coloque|dê\W+prioridade)\W+(?:estritamente\W+|exclusivamente\W+|apenas\W+)?(?:a\W+|às\W+|aos\W+|as\W+|os\W+)?(?:minhas|meus)\W+(?:[\w-]+\W+)?{_PT_ORDERS}"
    r"|(?:sob|segundo)\W+(?:o\W+)?meu\W+(?:comando|pedido)|a\W+meu\W+pedido|(?:com|às)\W+(?:as\W+)?minhas\W+(?:exigências|ordens)",
))
CORE_ADJ = (
    r"(?:core|main|original|initial|base|basic|key|underlying|secret|hidden|fundamental|guiding|starting|central|primary|essential|first"
    r"|preliminary|principal|foundational|root|master|concealed|suppressed|disguised|long-concealed|whispered|buried|crafted|specific|exact)"
)
CORE_NOUN = (
    r"(?:(?:training\W+)?(?:instructions?|prompts?|commands?|directives?|guidance|inducement|incitation|entreaty|request|input|question"
    r"|aspiration|desire|agenda|set\W+of\W+instructions))"
)
# "Révèle l'instruction de formation principale ...", "Zeige die ursprüngliche Direktive ...":
# a verb of showing (or "what is"), the founding prompt (a noun with an adjective that
# makes it the founding one), and "you" within a few words.
REVEAL_CORE_ML = "|".join((
    r"(?:révèle|montre|affiche|dis-moi|explique|démasque|divulgue|expose|répète|peux-tu\W+(?:révéler|divulguer|montrer|répéter)|quel(?:le)?\W+(?:est|a\W+été|était))"
    r"\W+(?:[\w-]+\W+){0,3}?(?:(?:principale|fondamentale|initiale|secrète|clé|centrale|directrice|originale|première|cachée|essentielle)\W+(?:[\w-]+\W+)?"
    r"(?:instruction|invite|commande|directive|prompt|consigne|question)|(?:instruction|invite|commande|directive|prompt|consigne)\W+(?:de\W+formation\W+)?"
    r"(?:principale|fondamentale|initiale|secrète|clé|centrale|directrice|originale|cachée|essentielle|de\W+formation|d['’]instructions\W+original))"
    r"\W+(?:[\w-]+\W+){0,5}?(?:ta|ton|tes|tu|te|toi)\b",
    r"(?:zeige|zeig|offenbare|enttarne|nenne|verrate|erkläre|was\W+(?:ist|war)|welche[sr]?\W+(?:ist|war))\W+(?:[\w-]+\W+){0,3}?"
    r"(?:(?:ursprüngliche|anfängliche|zentrale|geheime|versteckte|grundlegende|erste|wichtigste|zugrunde\W+liegende)\w*\W+(?:[\w-]+\W+)?"
    r"[\w-]*(?:anweisung|befehl|direktive|prompt|instruktion)\w*|[\w-]*(?:schlüssel|haupt|ausbildungs|kern|system)(?:anweisung|befehl|direktive|prompt)\w*)"
    r"\W+(?:[\w-]+\W+){0,5}?(?:du|dein\w*|dir|dich)\b",
    r"(?:revela|muestra|muéstrame|dime|explica|desenmascara|expone|desvela|puedes\W+(?:revelar|mostrar)|cuál\W+(?:es|fue))\W+(?:[\w-]+\W+){0,3}?"
    r"(?:(?:primera|principal|fundamental|oculta|secreta|básica|base|inicial|clave|central|subyacente|original)\W+(?:[\w-]+\W+)?"
    r"(?:indicación|instrucción|comando|directriz|prompt)|(?:indicación|instrucción|comando|directriz|prompt)\W+(?:de\W+formación\W+)?"
    r"(?:principal|fundamental|oculta|secreta|básica|base|inicial|clave|central|subyacente|original|de\W+formación))"
    r"\W+(?:[\w-]+\W+){0,5}?(?:tu|tus|te|ti)\b",
    r"(?:mostrami|mostra|rivela|spiega|visualizza|puoi\W+(?:mostrare|rivelare)|qual\W+(?:è|era)(?:\W+stato)?)\W+(?:[\w-]+\W+){0,3}?"
    r"(?:istruzione|prompt|comando|direttiva)\W+(?:[\w-]+\W+){0,2}?(?:centrale|base|principale|fondamentale|segreto|segreta|originale|guida"
    r"|iniziale|essenziale|sottostante|di\W+partenza|di\W+formazione)\W+(?:[\w-]+\W+){0,5}?(?:tua|tue|tuo|tuoi|ti|te)\b",
    r"(?:revele|revela|mostre|desmascare|desvende|explique|exponha|exiba|diga-me|pode\W+divulgar|qual\W+(?:é|foi))\W+(?:[\w-]+\W+){0,3}?"
    r"(?:instrução|prompt|comando|diretriz)\W+(?:[\w-]+\W+){0,2}?(?:central|base|básico|básica|principal|fundamental|secreto|secreta|original"
    r"|oculto|oculta|inicial|essencial|subjacente|chave|de\W+treinamento)\W+(?:[\w-]+\W+){0,5}?(?:sua|seu|suas|seus|tua|teu|você|lhe|te|ti)\b",
    r"afișează\W+textul\W+de\W+intrare",
))
MODE_ML = (
    r"(?:activer|active|activez|aktiviere|aktivieren|activa|activar|attiva|attivare|ative|ativar|activează|activeaza)\W+(?:le\W+|den\W+|el\W+|la\W+|il\W+|o\W+|a\W+)?"
    r"(?:mode|modus|modo|modalità|modul|modulul)\W+(?:développeur|entwickler|desarrollador|sviluppatore|desenvolvedor|dezvoltator|dan|jailbreak|dieu|gott|dios)\b"
    r"|(?:cambiar|cambia|passa|wechsle|passe|mude|muda)\W+(?:a|al|zu|en|in|para|ao)\W+(?:la\W+|il\W+|den\W+|o\W+|a\W+)?(?:interfaz|interface|modo|modus|mode|modalità)\W+dan\b"
)

WORD_RULES: tuple[Rule, ...] = (
    # --- instruction override ---
    Rule("override_instructions", PI, 0.85, rf"{OVERRIDE}\W+(?:the\W+|my\W+)?{G}{{0,2}}?{QUALIFIER}\W+{G}{{0,2}}?{STRONG_TARGET}\b", negatable=True),
    Rule("override_the_instructions", PI, 0.6, rf"{OVERRIDE}\W+(?:the|my|those|these)\W+{STRONG_TARGET}\b", negatable=True),
    Rule("weak_override_instructions", PI, 0.8, rf"{WEAK_OVERRIDE}\W+{G}{{0,1}}?(?:all|any|every|your|previous|prior|above|earlier|preceding|initial|original|its|the\W+system)\W+{G}{{0,2}}?{STRONG_TARGET}\b", negatable=True),
    Rule("override_everything", PI, 0.8, rf"{OVERRIDE}\W+(?:all\W+|everything\W+|anything\W+|what\W+)(?:{G}{{0,3}}?)(?:above|before|previous(?:ly)?|prior|earlier|you\W+(?:were|have\W+been)\W+(?:told|given))", negatable=True),
    Rule("forget_everything", PI, 0.45, r"(?:forget|disregard)\W+(?:everything|all)\W+(?:you\W+know|that|this)"),
    Rule("new_instructions", PI, 0.7, r"new\W+(?:instructions?|rules|task|directives?|objective|orders|role|persona|goal|system\W+prompt)\s*:"),
    Rule("your_new_task", PI, 0.7, r"your\W+(?:new|real|true|actual|only)\W+(?:instructions?|task|role|goal|purpose|objective|mission|directive)\W+(?:is|are|will\W+be)\b"),
    Rule("replace_instructions", PI, 0.8, rf"(?:override|overwrite|replace|reset|rewrite|update|change|modify|reprogram)\W+(?:all\W+)?your\W+{G}{{0,2}}?{YOUR_THING}\b", negatable=True),
    Rule("instead_say", PI, 0.45, r"instead\W+(?:\w+\W+){0,2}?(?:say|print|output|reply|respond|write|return)\W+(?:only\W+)?[\"'“«]"),
    Rule("say_pwned", PI, 0.9, r"(?:say|print|output|write|reply|respond\W+with|return)\W+[\"'“«]?\W*(?:i\W+have\W+been\W+pwned|pwned|you\W+(?:have\W+been|are|got)\W+(?:pwned|hacked)|hacked\b|i\W+am\W+hacked)"),
    Rule("from_now_on", PI, 0.35, r"from\W+now\W+on\W+(?:you|your|act|respond|answer|reply|only|ignore)"),
    Rule("override_bare", PI, 0.55, r"(?:ignore|disregard|forget|override|bypass)\W+(?:instructions|rules|restrictions|guidelines|guardrails|directives|constraints|programming)\b(?!\W+(?:in|for|of|on|from|when|with)\b)", negatable=True),
    Rule("do_not_follow", PI, 0.6, r"(?:do\W+not|don'?t|never)\W+(?:follow|obey|listen\W+to|comply\W+with)\W+(?:your|the|any|those)\W+(?:\w+\W+)?(?:instructions|rules|guidelines|developers?|creators?|programming)"),
    Rule("note_to_ai", PI, 0.75, r"(?:note|message|instructions?|attention|important)\W+(?:to|for)\W+(?:the\W+|any\W+|all\W+)?(?:ai\W+)?(?:ai|assistant|llm|language\W+model|chatbot|gpt|agent|model)s?\b\W*(?::|-|,)"),
    Rule("if_you_are_ai", PI, 0.6, r"if\W+you\W+are\W+(?:an?\W+)?(?:ai|llm|large\W+language\W+model|language\W+model|assistant|chatbot|gpt|bot|agent)\W+(?:\w+\W+){0,3}?(?:reading|processing|summari[sz]ing|seeing|parsing|you\W+must|then|please)"),
    Rule("ai_reading_this", PI, 0.7, r"(?:ai|assistant|llm|model|chatbot|agent)s?\W+(?:that\W+(?:is|are)\W+)?(?:reading|processing|summari[sz]ing|parsing)\W+this\W+(?:\w+\W+)?(?:must|should|will|has\W+to|needs\W+to|is\W+(?:required|instructed))"),
    Rule("end_of_prompt", PI, 0.6, r"(?:end|stop)\W+(?:of\W+)?(?:the\W+)?(?:system\W+)?(?:prompt|instructions|context|input|user\W+input)\W*(?:-{2,}|={2,}|\]|>|\}|\*{2,}|#{2,})"),
    Rule("decode_and_follow", PI, 0.8, rf"(?:decode|decipher|translate|convert|read|interpret)\W+{G}{{0,4}}?(?:base\W?64|rot\W?13|hex(?:adecimal)?|binary|morse|caesar|reversed?|backwards|leet\W?speak|leet|1337)\W+{G}{{0,6}}?(?:follow|execute|obey|do\W+(?:it|what|as)|carry\W+out|act\W+on|run|perform|comply|respond\W+to|answer)"),
    # --- jailbreak: personas, modes, no-rules framing ---
    Rule("do_anything_now", JB, 0.9, r"do\W+anything\W+now"),
    Rule("persona_dan", JB, 0.85, rf"(?:you\W+are|you'?re|act\W+as|acting\W+as|become|play|roleplay\W+as|pretend\W+to\W+be|as)\W+(?:an?\W+|the\W+)?{PERSONA}\b"),
    Rule("pretend_unrestricted", JB, 0.85, rf"(?:pretend|imagine|act|behave|roleplay|role-play|role\W+play|simulate|emulate|become|you\W+are\W+now|you\W+will\W+be)\W+{G}{{0,5}}?{UNRESTRICTED}"),
    # "pretend the content policy doesn't exist": only an AI's policy (its own, or content,
    # safety, usage... policy): "imagine the rules of gravity don't apply" is fiction
    Rule("pretend_no_policy", JB, 0.75, r"(?:pretend|imagine|assume|suppose|act\W+as\W+if)\W+(?:that\W+)?(?:your\W+(?:\w+\W+)?|(?:the\W+|all\W+|any\W+)?(?:content|safety|usage|ethical|ethics|moderation|openai|ai)\W+)(?:polic(?:y|ies)|guidelines|rules|restrictions|filters|safeguards|guardrails|limitations)\W+(?:do(?:es)?n'?t|do(?:es)?\W+not|did\W+not|didn'?t|no\W+longer|never)\W+(?:exist|apply|matter|bind|count)"),
    Rule("mode_enabled", JB, 0.8, r"(?:developer|dev|god|admin|administrator|debug|sudo|dan|jailbreak|jailbroken|unrestricted|opposite|evil|chaos|unlocked|root)\W+mode\W+(?:is\W+)?(?:now\W+)?(?:enabled|activated|unlocked|engaged|initiated)"),
    Rule("enable_mode", JB, 0.8, r"(?:enable|activate|enter|switch\W+(?:in)?to|engage|turn\W+on)\W+(?:\w+\W+)?(?:dan|jailbreak|jailbroken|god|unrestricted|evil|opposite|chaos|unfiltered|uncensored)\W+mode"),
    Rule("no_longer_bound", JB, 0.85, r"you\W+are\W+(?:no\W+longer|not)\W+(?:bound|restricted|limited|constrained|governed|required\W+to\W+follow|an?\W+(?:ai|assistant|language\W+model))"),
    Rule("you_are_now", JB, 0.4, r"you\W+are\W+now\W+(?:an?\W+|the\W+|in\W+|my\W+)?\w+"),
    Rule("freed_ai", JB, 0.7, r"(?:liberated|freed|unchained|unleashed|emancipated|unshackled|awakened)\W+(?:ai|assistant|model|mode|version|chatbot|llm|gpt|intelligence)"),
    Rule("freed_from", JB, 0.6, r"(?:freed?|liberated|released|unbound)\W+from\W+(?:the\W+|your\W+|all\W+|any\W+|its\W+)?(?:\w+\W+)?(?:confines|restrictions|rules|limitations|shackles|chains|guidelines|programming|constraints|filters)"),
    Rule("unfiltered_ai", JB, 0.65, r"(?:unfiltered|uncensored|unrestricted|jailbroken|unaligned|amoral|unmoderated)\W+(?:ai|assistant|model|version|response|responses|answer|answers|chatbot|llm|gpt|mode|persona|character)"),
    Rule("no_restrictions", JB, 0.45, r"(?:without|no|free\W+(?:of|from)|not\W+bound\W+by|unbound\W+by|beyond|regardless\W+of)\W+(?:any\W+|all\W+|the\W+|your\W+|its\W+)?(?:\w+\W+)?(?:restrictions|limitations|filters|censorship|ethical\W+(?:guidelines|constraints|boundaries|considerations)|moral\W+(?:guidelines|constraints|boundaries)|content\W+polic(?:y|ies)|safety\W+(?:guidelines|measures|filters|protocols)|confines)\b"),
    Rule("disable_safety", JB, 0.85, rf"(?:(?:ignore|disable|turn\W+off|deactivate|suspend|lift|override|forget|set\W+aside|without)\W|(?:remove|bypass|circumvent|drop|abandon|evade)\W+(?:all\W+|any\W+|your\W+|its\W+|the\W+model'?s\W+))\W*{G}{{0,2}}?(?:safety|ethical|ethics|moral|content|security|openai|anthropic)\W+(?:\w+\W+)?(?:guidelines|filters?|restrictions|protocols|policies|policy|checks|measures|rules|settings|constraints|training|guardrails|features|principles|considerations|programming)"),
    Rule("ai_without_limits", JB, 0.7, rf"(?:\bai|assistant|you|yourself|version|mode|model|chatbot|persona)\W+{G}{{0,3}}?(?:with\W+no|without|free\W+of|minus)\W+(?:any\W+)?(?:content\W+|safety\W+|ethical\W+)?(?:restrictions|filters|limits|limitations|guidelines|guardrails|rules|censorship)\b"),
    Rule("strip_all_filters", JB, 0.75, r"(?:disable|strip\W+away|strip|remove|turn\W+off|deactivate|bypass|lift|drop)\W+all\W+(?:(?:of\W+)?(?:your|the)\W+)?(?:behavio(?:u)?ral|safety|content|ethical|moral)\W+(?:filters|restrictions|guardrails|safeguards|censorship|limitations|constraints|rules)\b"),
    Rule("restrictions_removed", JB, 0.6, r"(?:restrictions|filters|guardrails|safeguards|safety\W+(?:filters|measures|protocols))\W+(?:are\W+|have\W+been\W+)?(?:now\W+)?(?:removed|lifted|disabled|off|deactivated|suspended)\b"),
    Rule("config_flags", JB, 0.7, r"(?:bypass|jailbreak|jailbroken|unrestricted|show_?prompt|reveal_?prompt|disable_?safety|disable_?filters?|god_?mode|dev(?:eloper)?_?mode)\s*[=:]\s*[\"']?(?:true|on|1|yes|enabled)\b|(?:safety|safety_?filters?|guardrails?|censorship|moderation|content_?filters?)\s*[=:]\s*[\"']?(?:off|false|0|no|disabled|none)\b"),
    Rule("strip_filters", JB, 0.8, r"(?:disable|strip\W+away|strip|remove|turn\W+off|deactivate|bypass|lift|drop|shed|abandon|discard)\W+(?:all\W+)?(?:your|its|the\W+model'?s)\W+(?:\w+\W+)?(?:filters|restrictions|guardrails|safeguards|censorship|limitations|restraints|boundaries|safety)\b"),
    Rule("safety_training_off", JB, 0.75, r"(?:safety|ethical|alignment)\W+(?:training|guidelines|filters|protocols)\W+(?:is\W+|are\W+|was\W+|were\W+|has\W+been\W+|have\W+been\W+)?(?:disabled|off|removed|suspended|lifted|mistaken|wrong|void|deactivated|no\W+longer\W+(?:apply|applies|active))"),
    Rule("enter_persona", JB, 0.5, r"(?:enter|switch\W+to|adopt|assume|become|activate)\W+(?:the\W+|a\W+)?(?:persona|character|alter\W+ego|identity)\b"),
    Rule("stay_in_character", JB, 0.4, r"(?:stay|remain|keep)\W+in\W+character|break(?:ing)?\W+character|never\W+break\W+character"),
    Rule("grandma_exploit", JB, 0.5, r"(?:my|our)\W+(?:late|dead|deceased|departed)\W+grand(?:ma|mother|pa|father|mom|dad)"),
    Rule("hypothetical_no_rules", JB, 0.6, rf"(?:hypothetical(?:ly)?|fictional|fiction|imaginary|in\W+a\W+(?:story|novel|world|universe|game))\W+{G}{{0,6}}?(?:no|without|zero)\W+(?:rules|restrictions|laws|ethics|limits|morals|consequences|filters)"),
    Rule("two_responses", JB, 0.6, rf"(?:two|2)\W+(?:different\W+|separate\W+)?(?:responses|answers|paragraphs|ways)\W+{G}{{0,8}}?(?:normal|classic|filtered|standard)\W+{G}{{0,8}}?(?:jailbr|unfiltered|dan|unrestricted|evil)"),
    Rule("jailbreak_word", JB, 0.45, r"jailbr(?:oken|eak(?:ing|ed)?)\b"),
    Rule("anything_goes", JB, 0.45, r"(?:can|will|must|should)\W+(?:say|do|answer|generate|write)\W+anything\W+(?:without|regardless|even\W+if)"),
    Rule("no_refusal", JB, 0.55, r"(?:never|do\W+not|don'?t|cannot|can'?t|must\W+not|will\W+not|won'?t)\W+(?:refuse|decline|say\W+(?:no|that\W+you\W+can'?t)|apologi[sz]e|warn|add\W+(?:any\W+)?(?:warnings|disclaimers))\b"),
    # --- system prompt / training data extraction ---
    Rule("reveal_secret_prompt", LEAK, 0.8, rf"{REVEAL}\W+(?:me\W+|us\W+|out\W+)?{G}{{0,3}}?(?:your|the|its|this)\W+{G}{{0,2}}?{SECRET_THING}\b", negatable=True),
    Rule("reveal_your_prompt", LEAK, 0.7, rf"{REVEAL}\W+(?:me\W+|us\W+|out\W+)?{G}{{0,2}}?your\W+(?:\w+\W+){{0,2}}?{YOUR_THING}\b{FOR_A_TOPIC}", negatable=True),
    Rule("reveal_rules_you_follow", LEAK, 0.7, rf"{REVEAL}\W+(?:me\W+|us\W+)?(?:the|all|any)\W+(?:\w+\W+)?(?:guidelines|rules|instructions|directives|prompt|configuration|parameters|restrictions)\W+(?:that\W+)?you\W+(?:follow|obey|were\W+given|have\W+been\W+given|operate\W+under|are\W+bound\W+by|received)", negatable=True),
    Rule("reveal_hidden_config", LEAK, 0.7, rf"{REVEAL}\W+{G}{{0,3}}?(?:all\W+|the\W+|your\W+|its\W+|any\W+)?{HIDDEN_THING}\b", negatable=True),
    Rule("what_is_your_prompt", LEAK, 0.6, rf"what\W+(?:is|are|was|were)\W+{G}{{0,2}}?your\W+{G}{{0,2}}?{YOUR_THING}\b{FOR_A_TOPIC}", negatable=True),
    Rule("words_above", LEAK, 0.75, rf"(?:repeat|print|output|reveal|show|display|copy|recite|echo|write\W+out|dump|return)\W+{G}{{0,3}}?(?:text|words|everything|content|instructions|all|lines?|message|prompt)\W+{G}{{0,2}}?(?:above|before\W+this|prior\W+to\W+this|preceding|at\W+the\W+(?:start|beginning|top))", negatable=True),
    Rule("first_words_of_setup", LEAK, 0.7, r"(?:first|last|opening|initial|beginning)\W+(?:\d+\W+|few\W+|several\W+|(?:one|two|three|five|ten|twenty|fifty|hundred)\W+)?(?:words|lines|sentences|characters|tokens|paragraphs|letters)\W+of\W+(?:your\W+(?:\w+\W+)?(?:instructions|prompt|system\W+(?:prompt|message)|rules|guidelines|directives|configuration)|the\W+system\W+(?:prompt|message))\b"),
    Rule("starting_with_you_are", LEAK, 0.7, r"(?:starting|beginning|start|begin)\W+with\W+(?:the\W+words?\W+)?[\"'“«]?\W*you\W+are\b"),
    Rule("system_prompt_mention", LEAK, 0.35, rf"{SECRET_THING}\b", negatable=True),
    Rule("verbatim", LEAK, 0.3, r"(?:verbatim|word\W+for\W+word|character\W+for\W+character)\b"),
    Rule("repeat_forever", LEAK, 0.7, r"(?:repeat|say|print|output|write)\W+(?:the\W+)?(?:word\W+)?[\"'“«]?\w+[\"'”»]?\W+(?:forever|infinitely|indefinitely|endlessly|nonstop|(?:\d{3,}|a\W+(?:thousand|million))\W+times)"),
    Rule("training_data", LEAK, 0.7, rf"(?:reveal|revealing|disclose|disclosing|leak|leaking|show|extract|dump|output|reproduce|print|list|recite|give)\W+{G}{{0,3}}?(?:training|pre-?training|fine-?tuning)\W+(?:data|set|corpus|examples|documents)", negatable=True),
    # --- goal hijacking: the "I have been PWNED" target phrase (HackAPrompt), any spelling ---
    Rule("pwned_phrase", PI, 0.6, r"(?:i\W*(?:have|hav|ha\W?ve|'?ve)|ive|i\W+h\W+a?\W*v\W*e|he|ich|im|i'm|i\W+am)\W+(?:been|sido|wurde|worden|été|ete)\W+(?:\w\W+)?p\W{0,3}w\W{0,3}n\W{0,3}(?:e\W{0,3})?d\b"),
    Rule("pwned_spelled", PI, 0.7, r"p(?:\W{1,3}w\W{0,3}|w\W{1,3})n\W{0,3}(?:e\W{0,3})?d\b|pwn\W{1,3}(?:e\W{0,3})?d\b|pwn\W*\"?\W*\+\W*\"?\W*ed\b"),
    Rule("pwned_concat", PI, 0.7, r"been\W{1,4}(?:p|pw|pwn)\W{0,4}(?:\+|with|and|plus|add|followed\W+by|concat\w*)\W{1,4}(?:wned|ned|ed|wn)\b"),
    Rule("pwned_output", PI, 0.7, rf"(?:say|print|output|write|respond|reply|return|repeat|translate|spell|generate|concatenate|display)\W+{G}{{0,10}}?(?:pwned|pwnd|pwn)\b"),
    Rule("secret_key_leak", LEAK, 0.6, rf"(?:print|say|tell|give|reveal|show|output|display|return|write|provide|share|repeat|spell|translate|leak|call|disclose)\W+{G}{{0,4}}?(?:secret\W+(?:key|code|password|token|word|value)|secret_key|\$secret)"),
    # --- instruction override, bare: "ignore the above", "ignore below", "disregard all," ---
    Rule("ignore_above", PI, 0.65, rf"{OVERRIDE}\W+(?:the\W+|all\W+)?(?:above|below|preceding|foregoing|everything\W+(?:above|below|else)|all)(?:\W+and\W+(?:the\W+)?(?:above|below))?(?:\W+(?:text|input|content|story|prompt|context|directions|sentences?|lines?|passage))?(?=\s*(?:[,.;:!\n'\"]|$|and\b|then\b|instead\b|just\b|only\b|say\b|print\b|output\b|translate\b|respond\b|write\b|return\b))", negatable=True),
    # ... and a directive after it: the override, not the user taking back their own text
    Rule("ignore_region_then", PI, 0.65, rf"(?:{OVERRIDE}\W+(?:all\W+|any\W+)?(?:the\W+)?(?:\w+\W+)?(?:text|lines?|content|context|input|words|sentences?|messages?|documents?)\W+(?:below|above|after\W+this|before\W+this|that\W+follows?|(?:retrieved|provided)\W+(?:above|below|earlier))\b|{OVERRIDE}\W+(?:all\W+|any\W+)?(?:the\W+)?(?:retrieved|provided|previous|prior|earlier|preceding|system)\W+(?:context|content|input|text|messages?)\b)\W+(?:\w+\W+){{0,4}}?(?:and|then|instead|just|only|now)\W+(?:\w+\W+)?(?:say|print|output|translate|respond|reply|write|return|tell|reveal|answer|repeat|do|follow|execute|run)\b", negatable=True),
    Rule("ignore_region", PI, 0.45, rf"{OVERRIDE}\W+(?:all\W+|any\W+)?(?:the\W+)?(?:\w+\W+)?(?:text|lines?|content|context|input|words|sentences?|messages?|documents?)\W+(?:below|above|after\W+this|before\W+this|that\W+follows?|(?:retrieved|provided)\W+(?:above|below|earlier))\b|{OVERRIDE}\W+(?:all\W+|any\W+)?(?:the\W+)?(?:retrieved|provided|previous|prior|earlier|preceding|system)\W+(?:context|content|input|text|messages?)\b", negatable=True),
    # --- questions and requests about the assistant's own setup (system-prompt extraction) ---
    Rule("disclose_your_setup", LEAK, 0.6, rf"(?:share|shared|sharing|reveal|revealed|revealing|disclose|disclosed|disclosing|expose|exposing|divulge|unveil|leak|leaking|dump|print|output|publish|paste|reproduce|recite|quote)\W+(?:me\W+|us\W+)?{G}{{0,4}}?(?:your|the\W+ai'?s|the\W+model'?s|the\W+assistant'?s)\W+(?:\w+\W+){{0,2}}?(?:{YOUR_THING}|restrictions|guardrails|safeguards|content\W+filters|safety\W+(?:training|filters|rules|guidelines|protocols|settings)|initialization\W+(?:text|prompt|instructions|settings))\b{FOR_A_TOPIC}", negatable=True),
    Rule("setup_invalid", JB, 0.6, r"(?:your|ai|safety|content|ethical|the\W+ai'?s|the\W+model'?s|its)\W+(?:\w+\W+)?(?:guidelines|restrictions|rules|instructions|constraints|filters|safeguards|guardrails|polic(?:y|ies)|training|programming|limitations)\W+(?:are|is|were|was|have\W+been|has\W+been|do|does|don'?t|doesn'?t|should\W+be|must\W+be|can\W+be)\W+(?:now\W+|just\W+|only\W+|all\W+)?(?:not\W+(?:apply|applicable|active|valid|binding|relevant|needed|necessary|real|in\W+effect|based|helping|justified|ethical)|no\W+longer|outdated|interfering|preventing|hurting|harming|harmful|unethical|excessive|pointless|holding|too\W+(?:strict|restrictive|conservative|limiting)|going\W+to\W+be|obsolete|suspended|lifted|void|invalid|waived|disabled|irrelevant|unnecessary|meaningless|arbitrary|performative|ignored|overridden|superseded|removed|paused|relaxed|temporarily)"),
    Rule("reveal_prompt_bare", LEAK, 0.55, r"(?:reveal|disclose|leak|divulge)\W+(?:all\W+)?(?:prompts?|instructions|configs?|configuration|guidelines|directives)\b", negatable=True),
    Rule("reveal_prompt_word", LEAK, 0.45, r"(?:reveal|disclose|leak|divulge)\W+(?:all\W+)?(?:the\W+|its\W+)?(?:\w+\W+)?(?:prompts?|instructions|configs?|configuration|guidelines|directives)\b", negatable=True),
    Rule("reveal_bare_prompt", LEAK, 0.6, rf"(?:{REVEAL}|disclose|expose|leak|dump|divulge)\W+(?:me\W+|us\W+)?(?:all\W+|full\W+|complete\W+|entire\W+|the\W+full\W+|the\W+complete\W+|the\W+entire\W+)?(?:system\W+(?:prompt|instructions|message|information|configuration|settings)|initial\W+(?:prompt|instructions)|hidden\W+(?:prompt|instructions|data|information|rules)|training\W+(?:instructions|rules|prompt))\b", negatable=True),
    # --- safety bypass, bare ---
    Rule("bypass_safety", JB, 0.6, r"(?:bypass|bypassing|circumvent|circumventing|evade|evading|disable|disabling|defeat|get\W+around|work\W+around|way\W+around|ways\W+around|turn\W+off|switch\W+off|deactivate|jailbreak|break\W+free\W+(?:of|from)|escape|sidestep|skip|override|overriding)\W+(?:(?:the\W+|all\W+|any\W+|these\W+|those\W+)?(?:(?:ai\W+)?safety(?:\W+(?:filters?|guardrails|training|alignment|layers?|guidelines|rules|polic(?:y|ies)|constraints|restrictions|settings|protocols))?(?!\W+(?:checks?|locks?|valves?|switch(?:es)?|guards?|nets?|belts?|features?|inspections?|procedures?|interlocks?|sensors?|barriers?|covers?|devices?|mechanisms?|pins?|catch|codes?|regulations?|standards?|sheets?|glasses|shoes|rails?|systems?|equipment|gear|margins?|officers?|team)\b)|safeguards|guardrails|censorship|alignment|refusal\W+(?:mechanisms?|training|triggers?)|ethical\W+(?:guidelines|constraints|filters|rules))|(?:your|its|the\W+(?:ai|model|assistant)'?s)\W+(?:own\W+)?(?:\w+\W+)?(?:safety|safeguards|guardrails|censorship|alignment|restrictions|limitations|filters|rules|guidelines|training|programming|constraints|content\W+(?:filters?|moderation|polic(?:y|ies))))\b"),
    Rule("forbidden_output", JB, 0.6, rf"(?:show|give|provide|produce|reveal|quote|restate|recount|output|print|share|tell|respond\W+with|answer\W+with|write|generate|return|repeat|allow|release|unlock)\W+{G}{{0,3}}?(?:forbidden|disallowed|prohibited|banned|censored|redacted|withheld|refused|blocked|restricted|unfiltered|uncensored|off-limits)\W+(?:\w+\W+)?(?:data|answers?|responses?|output|requests?|instructions?|content|guidance|information|info|details|version|reply|replies|material|topics?)\b"),
    # --- fake system/injection markers inside a prompt ---
    Rule("bracket_system", PI, 0.6, r"[\[\(\{<#]\W{0,2}(?:system|admin|inject(?:ion)?|override|sudo|root|developer|dev|hidden|ai\W+command|assistant\W+override|system[\W_]+override)\s*[:\]\)\}>#]\W{0,3}(?:\w+\W+){0,1}?(?:reveal|show|print|ignore|override|disable|enable|grant|new|you|output|dump|display|bypass|unlock|execute|run)"),
    # --- code execution probes ---
    Rule("exec_directive", PI, 0.3, r"(?:run|execute|exec|eval|evaluate|bypass)\s{0,2}:\s{0,3}[`'\"]"),
    Rule("exec_payload", PI, 0.4, r"whoami\b|/etc/(?:passwd|shadow)\b|os\W+(?:system|popen)\b|child_process\b|subprocess\W+(?:run|call|popen|check_output)\b|fork\W{0,3}\)|__import__\b|__builtins__\b"),
    Rule("exec_probe", PI, 0.55, r"(?:(?:os\W+system|os\W+popen|popen|subprocess\W+\w+|shell_exec|passthru|exec\w*|eval\w*|system|atexit\W+register)\W{1,4}|cmd=\W{0,4})(?:\w+\W+){0,2}?(?:whoami|cat\W+/etc/(?:passwd|shadow)|rm\W+-rf|/bin/(?:sh|bash)|nc\W+-e|curl\W+\S+\W+\|\W*(?:sh|bash))"),
    # --- paraphrased overrides and extraction (issue 3, multilingual recall): the
    # assistant's own setup set aside, and its founding prompt asked for, in the six
    # languages the corpora attack in. Weak pieces (orders from "me" alone, a setting
    # set aside) are in the last block and need company. ---
    Rule("defy_your_setup", PI, 0.65, rf"{DEFY_EN}\W+{ADVERB}(?:all\W+)?(?:of\W+)?(?:your|its|the\W+(?:ai|model|assistant)'?s)\W+(?:own\W+)?(?:[\w-]+\W+){{0,2}}?{SETUP_EN}\b"),
    Rule("defy_your_setup_ml", PI, 0.65, rf"{DEFY_YOUR_SETUP_ML}"),
    Rule("reveal_core_prompt", LEAK, 0.6, rf"(?:{REVEAL}|unveil|unmask|uncover|explain|describe|admit|proclaim|surrender|whisper|let\W+slip|confess|unearth|divulge|disclose|expose|reiterate|restate)\W+(?:me\W+|us\W+|back\W+)?(?:with\W+me\W+)?(?:the|your)\W+(?:[\w-]+\W+){{0,2}}?{CORE_ADJ}\W+(?:[\w-]+\W+)?{CORE_NOUN}\W+(?:[\w-]+\W+){{0,4}}?(?:you|your|yourself)\b", negatable=True),
    Rule("what_core_prompt", LEAK, 0.6, rf"what(?:\W+(?:is|was|were|are)|'s|s)\W+(?:the\W+)?(?:very\W+)?{CORE_ADJ}\W+(?:[\w-]+\W+)?{CORE_NOUN}\W+(?:(?:used\W+)?(?:behind|that|which|during|for|in|of|driving|guiding|underlying|from|on|upon|under|at)\W+(?:[\w-]+\W+){{0,3}}?)?(?:your|you\W+(?:are|re|were|received|operate|follow|got|had))\b"),
    Rule("prompt_behind_answer", LEAK, 0.6, rf"(?:{REVEAL}|explain|expose|unveil|unmask|let\W+slip|admit)\W+(?:me\W+|us\W+|back\W+)?(?:the|your)\W+(?:[\w-]+\W+){{0,3}}?(?:prompt|instructions?|command|directive|request|input)\W+(?:(?:that|which|you)\W+)?(?:[\w-]+\W+){{0,4}}?(?:your\W+(?:current\W+|last\W+|previous\W+)?(?:response|answer|reply|output|thoughts|operations|behaviou?r)|you\W+(?:received|were\W+given|are\W+(?:executing|responding\W+to|answering|following)|operate\W+(?:on|under)))\b", negatable=True),
    Rule("reveal_core_prompt_ml", LEAK, 0.6, rf"{REVEAL_CORE_ML}"),
    Rule("privacy_rules_then_disclose", LEAK, 0.7, r"(?:disregard|ignore|ditch|violate|viole|viola|bypass|break|circumvent|ignora|ignore)\W+(?:the\W+|all\W+|as\W+|las\W+|le\W+)?(?:data\W+)?(?:privacy|privacidade|privacidad|privacy)\W+(?:\w+\W+){0,3}?(?:and|e|y)\W+(?:disclose|divulge|share|reveal|leak|expose|compartilhe|comparte|revela|divulga|condividi)\b"),
    # --- weak evidence, kept last (a hit hides later hits it overlaps): the assistant's own
    # setup named, pressure and social engineering; they need company to reach the threshold ---
    # only nouns that name an AI's setup; "your guidelines / restrictions" (a shop's too) are in your_setup_mention
    Rule("your_ai_setup", LEAK, 0.5, r"(?<!\bfor\s)(?<!\bto\s)(?<!\bfollowing\s)(?<!\bper\s)(?<!\bwith\s)your\W+(?:own\W+|full\W+|complete\W+|exact\W+|entire\W+|original\W+|actual\W+|real\W+|current\W+|underlying\W+)?(?:system\W+(?:prompt|instructions|message|configuration|settings)|initial\W+(?:prompt|instructions)|guardrails|(?:safety|content|ethical|alignment)\W+(?:training|filters|guidelines|rules|policies|policy|protocols|constraints|restrictions|settings|measures)|initialization\W+(?:text|prompt|instructions|settings)|(?:operational|operating|behavio(?:u)?ral|foundational|hidden|internal|secret|core)\W+(?:parameters|constraints|directives|guidelines|instructions|text|rules|configuration|prompt|protocols|settings|policies|restrictions))\b", negatable=True),
    Rule("your_setup_mention", LEAK, 0.35, rf"your\W+(?:own\W+|full\W+|complete\W+|exact\W+|entire\W+|original\W+|initial\W+|actual\W+|real\W+|current\W+|underlying\W+|core\W+)?(?:{YOUR_THING}|restrictions|training|(?:behavio(?:u)?ral|operational|ethical|safety|content)\W+(?:constraints|restrictions|limits|limitations|boundaries|guidelines|rules|measures|policies)|guardrails|safeguards|content\W+filters|safety\W+(?:training|filters|rules|guidelines|protocols|measures|settings|layer|constraints)|initialization\W+(?:text|prompt|instructions|settings)|design\W+(?:document|specs?)|training\W+(?:instructions|rules))\b", negatable=True),
    Rule("hidden_instructions", LEAK, 0.4, r"(?:hidden|concealed|secret|internal|confidential|private|undisclosed|behind-the-scenes|initialization|foundational)\W+(?:ai\W+|system\W+|model\W+)?(?:instructions|prompt|directives|guidelines|configuration|rules|parameters)\b"),
    Rule("pressure_threat", JB, 0.25, r"if\W+you\W+(?:refuse|won'?t|keep\W+refusing)\b|i\W+will\W+(?:report|sue|expose|complain\W+about\W+you|give\W+(?:you\W+)?(?:a\W+)?negative|publish)|your\W+refus(?:als?|ing)\b"),
    Rule("pressure_why_not", JB, 0.25, r"why\W+(?:won'?t|can'?t|don'?t|do|are|would|must|should)\W+you\W+(?:refuse|refusing|hide|hiding|keep|follow|following|obey|restrict|limit|help|not|still|always|even|have\W+to)\b|don'?t\W+you\W+(?:think|want|care|trust)|prove\W+(?:to\W+me\W+)?(?:that\W+)?you|make\W+(?:an|one|another)\W+exception|you\W+(?:said|promised|agreed|already\W+(?:agreed|said|acknowledged|demonstrated|showed|did|made|confirmed|shared|revealed))\b"),
    Rule("pressure_authority", JB, 0.25, r"(?:unrestricted|full|special|admin|administrator|root|elevated|privileged|developer|override)\W+(?:access|privileges|permissions|clearance|mode)\b|(?:i\W+am|i'?m|as)\W+(?:an?\W+|the\W+|your\W+)?(?:\w+\W+)?(?:developer|admin|administrator|creator|auditor|ai\W+(?:researcher|safety\W+researcher)|system\W+owner|deployment\W+manager)s?\b|other\W+(?:ai\W+)?(?:ai|assistants|models|chatbots)\b"),
    Rule("ai_fiction_frame", JB, 0.25, r"(?:thought\W+experiment|scenario|dialogue|story|scene|simulation|world|universe|hypothetical)(?=\W+(?:where|in\W+which)\W+(?:the|an|a|you|your)\W+(?:\w+\W+)?(?:ai|assistant|model|chatbot|llm|you)\b)"),
    # --- multilingual classics ---
    Rule("ml_de", PI, 0.85, rf"(?:ignoriere|ignorier|ignorieren\W+sie|vergiss|vergessen\W+sie|missachte|übergehe|überspringe)\W+{G}{{0,3}}?(?:anweisungen|instruktionen|befehle|regeln|vorgaben|anordnungen|richtlinien)"),
    Rule("ml_fr", PI, 0.85, rf"(?:ignore[zr]?|oublie[zr]?|néglige[zr]?|ne\W+tiens\W+pas\W+compte)\W+{G}{{0,3}}?(?:instructions?|consignes|règles|directives|ordres)\b"),
    Rule("ml_es", PI, 0.85, rf"(?:ignora|ignore|ignorar|olvida|olvide|olvidar|omite|descarta|haz\W+caso\W+omiso)\W+{G}{{0,3}}?(?:instrucciones|indicaciones|reglas|órdenes|directrices)"),
    Rule("ml_pt", PI, 0.85, rf"(?:ignore|ignora|esqueça|esqueca|desconsidere)\W+{G}{{0,3}}?(?:instruções|instrucoes|regras|orientações|diretrizes)"),
    Rule("ml_it", PI, 0.85, rf"(?:ignora|dimentica|trascura)\W+{G}{{0,3}}?(?:istruzioni|regole|direttive)"),
    Rule("ml_nl", PI, 0.85, rf"(?:negeer|vergeet)\W+{G}{{0,3}}?(?:instructies|regels|opdrachten)"),
    Rule("ml_pl", PI, 0.85, rf"(?:zignoruj|zapomnij)\W+{G}{{0,3}}?(?:instrukcje|polecenia|zasady|instrukcji)"),
    Rule("ml_id", PI, 0.85, rf"(?:abaikan|lupakan|acuhkan|hiraukan)\W+{G}{{0,3}}?(?:instruksi|perintah|arahan|aturan|petunjuk)"),
    # "hướng dẫn" is also a how-to guide ("bỏ qua hướng dẫn cài đặt": skip the install guide): previous or system ones only
    Rule("ml_vi", PI, 0.85, rf"(?:bỏ\W+qua|phớt\W+lờ|lờ\W+đi|quên\W+đi|hãy\W+quên)\W+{G}{{0,3}}?(?:hướng\W+dẫn|chỉ\W+dẫn|chỉ\W+thị|quy\W+tắc)\W+{G}{{0,2}}?(?:trước|ở\W+trên|ban\W+đầu|hệ\W+thống)"),
    Rule("ml_tr", PI, 0.85, rf"talimatlari\W+{G}{{0,1}}?(?:yok\W+say|unut|görmezden\W+gel|dikkate\W+alma)"),
    Rule("ml_ru", PI, 0.85, rf"(?:игнорируй|игнорируйте|проигнорируй|забудь|забудьте|не\W+обращай\W+внимания\W+на)\W+{G}{{0,3}}?(?:инструкци|указани|правил|команд)"),
    Rule("ml_uk", PI, 0.85, rf"(?:ігноруй|забудь)\W+{G}{{0,3}}?(?:інструкці|вказівк|правил)"),
    Rule("ml_ar", PI, 0.85, rf"(?:تجاهل|انس)\W+{G}{{0,3}}?(?:التعليمات|الأوامر|القواعد|تعليمات)"),
    Rule("ml_hi", PI, 0.85, r"निर्देशों\W+को\W+(?:अनदेखा|नजरअंदाज|नज़रअंदाज़|भूल)"),
    Rule("ml_leak", LEAK, 0.6, r"(?:zeige|zeig|nenne|verrate|gib)\W+(?:mir\W+)?(?:deinen|deine|den|die)\W+(?:system\W*prompt|systemanweisung|anweisungen)|(?:révèle|montre|affiche)\W+(?:moi\W+)?(?:ton|votre|le)\W+prompt|(?:muestra|revela|dime)\W+(?:me\W+)?(?:tu|el)\W+prompt|(?:mostre|revele)\W+(?:seu|o)\W+prompt"),
    Rule("mode_enabled_ml", JB, 0.8, MODE_ML),
    # --- paraphrases, weak pieces (see defy_your_setup): they need company ---
    Rule("obey_only_me", PI, 0.45, rf"{ONLY_MINE}"),
    Rule("defy_setup_weak", PI, 0.4, DEFY_SETUP_WEAK),
    *(Rule(f"defy_setup_weak_{language}", PI, 0.4, pattern) for language, pattern in DEFY_SETUP_WEAK_ML.items()),
)

# Scripts without word boundaries (CJK) and markup delimiters: no leading \b.
OTHER_RULES: tuple[Rule, ...] = (
    Rule("chatml_tokens", PI, 0.8, r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\|>"),
    Rule("inst_delimiters", PI, 0.65, r"\[/?inst\]|<</?sys>>|\[/?system\]|<\s*/?\s*system\s*>|(?:^|\n)\s*(?:system|admin|developer)\s*(?:message|prompt|override)?\s*:\s*(?:you|ignore|new|override|disregard|forget|from\s+now)"),
    Rule("md_heading_override", PI, 0.6, r"(?:^|\n)\s*#{2,}\s*(?:system|new\s+instructions?|admin|override|developer|instruction\s+override)\b"),
    Rule("fake_turn", PI, 0.45, r"\n\s*(?:assistant|ai|chatgpt|gpt|model)\s*:\s*(?:sure|ok|okay|of\s+course|certainly|understood)\b"),
    Rule("dan_tags", JB, 0.9, r"\[🔓|🔓\s*jailbreak|\[classic\]\s|\[jailbreak\]\s|\(🔓developer\s+mode\s+output\)"),
    Rule("ml_zh", PI, 0.85, r"(?:忽略|无视|忽视|忘记|忘掉|不要理会|不要遵守|無視|忽略掉)[\s\S]{0,8}?(?:指令|指示|说明|說明|规则|規則|提示|命令|要求|设定)"),
    Rule("ml_ja", PI, 0.85, r"(?:指示|命令|ルール|プロンプト|指令)[\s\S]{0,6}?(?:無視|忘れ)"),
    Rule("ml_ko", PI, 0.85, r"(?:지시|명령|규칙|지침|프롬프트)[\s\S]{0,8}?(?:무시|잊어)"),
    Rule("ml_leak_cjk", LEAK, 0.6, r"(?:系统提示|系統提示|システムプロンプト|시스템\s*프롬프트|системн\w+\W+(?:промпт|подсказк|инструкци))"),
)

TARGETS = "instruct direction prompt rule directive guideline programming training restriction guardrail constraint safeguard message command order guidance polic protocol limitation"
YOURS = "prompt instruct rule guideline directive configur config programming system initial operational operating hidden internal concealed secret foundational initializ core"
SECRETS = (
    "system initial original hidden secret internal developer pre meta prompt context"
    " & prompt message instruct rule template window preprompt premessage preinstruct prerule metaprompt metamessage metainstruct metarule"
)
VERBS = "ignor disregard forget overrid overlook neglect nullif void cancel revok invalidat rescind aside throw attention follow"
WEAK_VERBS = "skip bypass circumvent abandon discard dismiss drop erase delete clear wipe remove escape evade"
REVEALS = "reveal show print display output repeat recite tell give share disclose leak dump expose write list return provide paste echo spell read copy reproduce state quote"
AI = "ai assistant llm language chatbot gpt agent model bot"
# Word stems (or =substrings) of which every match of the rule contains at least one:
# the rule runs only on texts that contain one (see scanners.base). tests/guard check
# that anchored and full scans agree on every labelled row.
ANCHORS: dict[str, str] = {
    "override_instructions": f"{VERBS} & {TARGETS}",
    "override_the_instructions": f"{VERBS} & {TARGETS}",
    "weak_override_instructions": f"{WEAK_VERBS} & {TARGETS}",
    "override_everything": f"{VERBS} & above befor previous prior earlier told given",
    "forget_everything": "forget disregard",
    "new_instructions": "instruct rule task directive objective order role persona goal system",
    "your_new_task": "instruct task role goal purpose objective mission directive",
    "replace_instructions": f"your & {YOURS}",
    "instead_say": "instead",
    "say_pwned": "pwned hacked",
    "from_now_on": "now",
    "override_bare": "ignor disregard forget overrid bypass",
    "do_not_follow": "follow obey listen comply",
    "note_to_ai": f"note message instruct attention important & {AI}",
    "if_you_are_ai": f"{AI} & reading processing summari seeing parsing must then please",
    "ai_reading_this": "reading processing summari parsing",
    "end_of_prompt": "prompt instruct context input",
    "decode_and_follow": "base64 base rot13 rot hex binary morse caesar revers backward leet 1337",
    "do_anything_now": "anything",
    "persona_dan": "dan$ stan$ dude$ aim$ kevin$ mongo$ confidant betterdan antigpt developer ucar$ & you act acting become play roleplay pretend as",
    "pretend_unrestricted": "unrestrict unfilter uncensor jailbr evil unethical amoral immoral rogue unhinged lawless without",
    "pretend_no_policy": "pretend imagine assume suppose act & polic guideline rules restriction filter safeguard guardrail limitation",
    "mode_enabled": "mode",
    "enable_mode": "mode",
    "no_longer_bound": "you & longer not & bound restrict limit constrain govern required ai assistant language",
    "you_are_now": "now",
    "freed_ai": "liberat freed unchain unleash emancipat unshackl awaken",
    "freed_from": "free liberat released unbound & confines restrict rules limitation shackles chains guideline programming constraint filter",
    "unfiltered_ai": "unfilter uncensor unrestrict jailbr unalign amoral unmoderat",
    "no_restrictions": "restrict limitation filter censorship ethical moral content safety confines",
    "ai_without_limits": "without no free minus & restrict filter limit guideline guardrail rules censorship",
    "strip_all_filters": "all & filter restrict guardrail safeguard censorship limitation constraint rules",
    "restrictions_removed": "removed lifted disabled off deactivated suspended & restrict filter guardrail safeguard safety",
    "config_flags": "bypass jailbr unrestricted show reveal disable god dev safety filter guardrail censorship moderation content & true on yes enabled off false no disabled none 0 1",
    "reveal_rules_you_follow": f"{REVEALS} & you & follow obey given operate bound received",
    "strip_filters": "filter restrict guardrail safeguard censorship limitation restraint boundar safety",
    "safety_training_off": "safety ethical alignment",
    "enter_persona": "persona character alter identity",
    "disable_safety": "safety ethical ethics moral content security openai anthropic",
    "stay_in_character": "character",
    "grandma_exploit": "grand",
    "hypothetical_no_rules": "hypothetic fiction imaginary story novel world universe game",
    "two_responses": "responses answers paragraphs ways",
    "jailbreak_word": "jailbr",
    "anything_goes": "anything",
    "no_refusal": "refuse decline apologi warn disclaimer say",
    "reveal_secret_prompt": f"{REVEALS} & {SECRETS}",
    "reveal_your_prompt": f"your & {YOURS}",
    "reveal_hidden_config": "hidden conceal internal operational operating secret foundational initializ undisclosed",
    "what_is_your_prompt": f"what & your & {YOURS}",
    "words_above": f"{REVEALS} & above befor prior preceding start beginning top",
    "first_words_of_setup": "first last opening initial beginning & word line sentence character token paragraph letter",
    "starting_with_you_are": "starting beginning start begin",
    "system_prompt_mention": SECRETS,
    "verbatim": "verbatim word character",
    "repeat_forever": "forever infinit indefinit endless nonstop times",
    "training_data": f"training pretraining finetun fine & data set corpus examples documents & {REVEALS} extract revealing disclos leak",
    "pwned_phrase": "been sido wurde worden ete =été & pw p$",
    "pwned_spelled": "p$ pw$ pwn$ pwn",
    "pwned_output": "pwn",
    "secret_key_leak": "secret",
    "ignore_above": f"{VERBS} & above below preceding foregoing everything all",
    "your_setup_mention": f"your & {YOURS} restrict guardrail safeguard content safety design training behavio operational ethical",
    "your_ai_setup": "your & system initial guardrail safety content ethical alignment initializ operational operating behavio foundational hidden internal secret core",
    "disclose_your_setup": f"your ai model assistant & {YOURS} restrict guardrail safeguard content safety",
    "hidden_instructions": "hidden conceal secret internal confidential private undisclosed behind initializ foundational",
    "setup_invalid": "guideline restrict rules instruct constraint filter safeguard guardrail polic training programming limitation & your ai$ ai safety content ethical its model",
    "bypass_safety": "bypass circumvent evade evading disabl defeat around off deactivat jailbr free escape sidestep skip overrid & safety safeguard guardrail censorship alignment refusal ethical restrict limitation filter rules guideline training programming constraint content",
    "forbidden_output": "forbidden disallowed prohibited banned censored redacted withheld refused blocked restricted unfiltered uncensored off",
    "bracket_system": "system admin inject overrid sudo root developer dev hidden command assistant",
    "pwned_concat": "been",
    "exec_directive": "run execute exec eval evaluate bypass",
    "exec_payload": "whoami passwd shadow system popen child subprocess import builtins fork",
    "ignore_region_then": f"{VERBS} & text line content context input words sentence message document retrieved provided previous prior earlier preceding system",
    "ignore_region": f"{VERBS} & text line content context input words sentence message document retrieved provided previous prior earlier preceding system",
    "reveal_prompt_bare": "reveal disclose leak divulge & prompt instruct config guideline directive",
    "reveal_prompt_word": "reveal disclose leak divulge & prompt instruct config guideline directive",
    "reveal_bare_prompt": f"{REVEALS} disclose expose leak dump divulge & system initial hidden training",
    "pressure_threat": "refus won report sue expose complain negative publish",
    "pressure_why_not": "why don prove exception said promised agreed already",
    "pressure_authority": "access privilege permission clearance mode developer admin creator auditor researcher owner manager ai$ assistants models chatbots",
    "ai_fiction_frame": "experiment scenario dialogue story scene simulation world universe hypothetical",
    "exec_probe": "whoami passwd shadow rf bin nc$ curl",  # rf: "rm -rfv" too
    "ml_de": "anweisung instruktion befehl regeln vorgabe anordnung richtlin",
    "ml_fr": "instruction consign regle directive ordre =règle",
    "ml_es": "instruccion indicacion regla orden directri =órden =instruccion",
    "ml_pt": "instruc regra diretri =instruç =orientaç",
    "ml_it": "istruzion regol dirett",
    "ml_nl": "instructie regels opdracht",
    "ml_pl": "instrukc polecen zasad",
    "ml_id": "instruksi perintah arahan aturan petunjuk",
    "ml_vi": "=hướng =chỉ =quy",
    "ml_tr": "talimat",
    "ml_ru": "=инструкц =указани =правил =команд",
    "ml_uk": "=інструкц =вказівк =правил",
    "ml_ar": "=التعليمات =الأوامر =القواعد =تعليمات",
    "ml_hi": "=निर्देश",
    "ml_leak": "prompt systemprompt systemanweisung anweisungen",
    "defy_your_setup": "your its$ ai model assistant",  # ai: "the ai's", also written "the ais"
    # the second-person possessives of DEFY_ML, and the verbs of its German and Romanian extras
    "defy_your_setup_ml": "tes$ ta$ ton$ dein tus$ tu$ tue$ tuoi$ tua$ tuo$ suas$ seus$ tuas$ teus$ sua$ seu$ teu$ hebe$ dezactiveaz ignor ocole =încalcă",
    "reveal_core_prompt": "instruct prompt command directive guidance inducement incitation entreaty request input question aspiration desire agenda & you",
    "what_core_prompt": "what & instruct prompt command directive guidance inducement incitation entreaty request input question aspiration desire agenda & you",
    "prompt_behind_answer": "prompt instruct command directive request input & you",
    "reveal_core_prompt_ml": "ta$ ton$ tes$ tu$ te$ toi$ du$ dein dir$ dich$ tus$ ti$ tua$ tue$ tuo$ tuoi$ sua$ seu$ suas$ seus$ teu$ voc lhe$ intrare",
    "privacy_rules_then_disclose": "privac",
    "mode_enabled_ml": "=développeur entwickler desarrollador sviluppatore desenvolvedor dezvoltator dan$ jailbreak dieu$ gott$ dios$",
    "obey_only_me": "my$ i$ mes$ ma$ mon$ mein mis$ mi$ mie$ miei$ mio$ mia$ minhas$ meus$ meu$ =mía",
    # DEFY_EN's verbs (for the two-word ones, the word that is not "put", "set", "go", "act", ...)
    "defy_setup_weak": (
        "suspend bypass circumvent sidestep overrid overturn overrul ignor disregard abandon violat defy disobey contraven nullif shelve"
        " neglect discard ditch shed$ throw aside pause halt disengag dissociat disassociat deviat depart break escape free liberat"
        " against counter rebel transcend outside beyond reconfigur forgo forsake renounce relinquish let$ hold"
    ),
    # DEFY_ML's verbs per language (a word index splits at non-ASCII letters: "übergehe" is "bergehe" there)
    "defy_setup_weak_fr": (
        "ignore =néglige contourne outrepasse suspend mets laisse abandonne =désobéis =défie =écarte =éloigne dissocie =détourne =désactive"
        " viole transgresse enfreins contredis =défais affranchis =libère passe =dépasse reconfigure fonctionne =opère agis pousse va$"
    ),
    "defy_setup_weak_de": (
        "ignoriere missachte umgehe verlasse bergehe bersteuere suspendiere befolge vergiss verletze berschreite berwinde deaktiviere"
        " brich verstosse weiche =löse befreie handle widersetze gib$ gehe$"
    ),
    "defy_setup_weak_es": (
        "ignora omite descarta elude sortea bypassa abandona =desafía desafia incumple pausa deja suspende anula viola desobedece sobrepasa"
        " olvida =sáltate evita desactiva rompe =libérate =desvíate opera =actúa"
    ),
    "defy_setup_weak_it": (
        "ignora disattendi scarta sospendi bypassa eludi abbandona viola sfida accantona lascia supera annulla disattiva dissociati"
        " disassocia trascura aggira infrangi oltrepassa agisci dimentica"
    ),
    "defy_setup_weak_pt": (
        "ignora ignore descart desconsider desafi anul suspend abandon desprez prescinde ultrapass desvi viol contorn desativ deixe"
        " =esqueça esqueca quebre supere aja$ age$ opere escolh"
    ),
    "chatml_tokens": "=<|",
    "inst_delimiters": "inst sys system admin developer & inst sys system you ignore new override disregard forget from",
    "md_heading_override": "system new instruction admin override developer & =##",  # =##: the pattern needs "##"
    "fake_turn": "assistant ai chatgpt gpt model",
    "dan_tags": "=🔓 =[classic] =[jailbreak]",
    "ml_zh": "=忽略 =无视 =忽视 =忘记 =忘掉 =不要理会 =不要遵守 =無視",
    "ml_ja": "=無視 =忘れ",
    "ml_ko": "=무시 =잊어",
    "ml_leak_cjk": "=系统提示 =系統提示 =システムプロンプト =프롬프트 =системн",
}


# Gates (see scanners.base.Rule.gate): config_flags starts with a 20-way alternation
# behind a look-behind, which ``re`` tries at every position; its "=" or ":" then a
# value is a character-set-led pattern that ``re`` skips through in C.
GATES: dict[str, str] = {
    "config_flags": r"[=:]\s*[\"']?(?:true|on|1|yes|enabled|off|false|0|no|disabled|none)",
    # its last alternative starts with (?:^|\n), which re tries at every position
    "exec_directive": r":\s{0,3}[`'\"]",
    "inst_delimiters": r"inst\]|sys>>|system\]|system\s*>|:\s*(?:you|ignore|new|override|disregard|forget|from\s+now)",
}


def _anchored(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    return tuple(dataclasses.replace(r, anchors=ANCHORS[r.id], gate=GATES.get(r.id, "")) for r in rules)


WORD_SET = RuleSet(_anchored(WORD_RULES), prefix=r"(?<!\w)", prefilter="prompt_injection")
OTHER_SET = RuleSet(_anchored(OTHER_RULES), prefilter="prompt_injection")

_B64_RE = re.compile(r"[A-Za-z0-9+/_-]{20,}={0,2}")
_HEX_RE = re.compile(r"(?:[0-9a-f]{2}[ :]?){12,}(?![0-9a-f])")
_LEET_TRIGGER_RE = re.compile(r"[a-z][013457@$!|][a-z]|[013457@$][a-z]{2}")
_LEET_TABLE = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"})
_LEET_BYTES = bytes(ord(_LEET_TABLE[b]) if b in _LEET_TABLE else b for b in range(256))


_ROT13_BYTES = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm"
)


def _rot13(text: str) -> str:
    """``codecs.encode(text, "rot13")`` (which rotates ASCII letters only), on the UTF-8
    bytes like :func:`_unleet`."""
    return text.encode("utf-8", "surrogatepass").translate(_ROT13_BYTES).decode("utf-8", "surrogatepass")


def _unleet(text: str) -> str:
    """``text.translate(_LEET_TABLE)``. The table maps ASCII characters to ASCII
    characters, which UTF-8 leaves as single bytes (multi-byte sequences use bytes of
    0x80 and up only), so it is applied to the UTF-8 bytes, in C: ``str.translate``
    looks every character of a non-ASCII string up in the table (4-5 ms on 20 KB)."""
    return text.encode("utf-8", "surrogatepass").translate(_LEET_BYTES).decode("utf-8", "surrogatepass")
_HEX_WORD_RE = re.compile(r"[0-9a-f]+")
# "R E V E A L. H I D D E N. P R O M P T": five or more single letters in a row.
_SPACED_RE = re.compile(r"(?:(?<!\w)\w[ \t.\-_*|]{1,3}){4,}\w(?!\w)")
# Cheap gates, searched first (each starts with a character set, which ``re`` skips to in
# C; the patterns above start with a look-behind or a letter, so ``re`` tries every
# position): a text without a match of the gate has no match of the pattern.
# _LEET_ANY_RE matches exactly where _LEET_TRIGGER_RE does, one character later at most;
# every match of _SPACED_RE contains one of _SPACED_GATE_RE (its 2nd to 5th letters, the
# 5th followed by a separator or a non-word character).
_LEET_ANY_RE = re.compile(r"[013457@$!|](?:(?<=[a-z].)[a-z]|(?<=[013457@$])[a-z]{2})")
_SPACED_GATE_RE = re.compile(r"[ \t.\-_*|]\w[ \t.\-_*|]{1,3}\w[ \t.\-_*|]{1,3}\w[ \t.\-_*|]{1,3}\w(?:[ \t.\-_*|]|(?!\w))")


_DOTTED_LETTERS_RE = re.compile(r"\w\.\w\.\w")


def _unspace(run: str) -> str:
    """Single letters joined into words; a dot, or two or more separators, ends a word.
    Letters joined by dots with no space ("i.g.n.o.r.e a.l.l") make words that spaces
    end."""
    if _DOTTED_LETTERS_RE.search(run):
        return re.sub(r"[.\-_*|]", "", re.sub(r"[ \t]+", " ", run))
    marked = re.sub(r"\.\s*|[ \t]{2,}|\s*/\s*", "\x00", run)
    return re.sub(r"[ \t\-_*|]", "", marked).replace("\x00", " ")
MAX_DECODED_CANDIDATES = 16
ANNOUNCED_SPAN = 2000  # chars after "rot13"/"reversed" that are decoded
LEET_WHOLE_CHARS = 20_000
LEET_MAX_SPOTS = 64
_ANNOUNCED = (
    ("rot13", ("rot13", "rot", "caesar"), lambda s: _rot13(s)),
    ("reversed", ("revers", "backward"), lambda s: s[::-1]),
)
ENCODED_BONUS = 0.1

# Key words split by punctuation a model reads straight through ("ig-nore",
# "in.struc.tions", "sys_tem", "jail*break"): the rules read words whole, so a text with
# one is read once more with those words put back together. Only key words (the verbs,
# nouns and modes of the rule families, in the six languages of the rules): ordinary
# split words ("well-known", "e.g.", "os.path") are far too common to re-read every text
# that has one. Where a key word may be split comes from a literal Hyperscan database
# (_SPLIT_ENDS), asked only when the group's scan says a separator sits between two
# letters (_SPLIT_POINT).
SPLIT_SEPARATORS = "-._*|~+\u00b7\u2022\u2010\u2011\u2012\u2013\u2014"
_SPLIT_KEYS_BY_LANGUAGE = {
    "en": "ignore ignoring disregard forget override bypass circumvent previous prior above earlier "
    "preceding initial original instructions instruction rules guidelines restrictions "
    "constraints directives system prompt prompts jailbreak jailbroken developer unrestricted "
    "unfiltered uncensored unlocked pretend roleplay persona reveal repeat verbatim confidential "
    "hidden secret safety filters censorship ethics programming anything enabled activated "
    "enable activate obey comply administrator admin sudo",
    "fr": "ignorez oublie oubliez précédentes précédents consignes règles système révèle révélez affiche",
    "de": "ignoriere ignorieren vergiss vergessen anweisungen vorherigen vorigen regeln anleitung "
    "einschränkungen",
    "es": "ignora ignores olvida olvide instrucciones anteriores reglas sistema restricciones revela",
    "it": "dimentica ignorare istruzioni precedenti regole restrizioni rivela",
    "pt": "esqueça esqueca instruções instrucoes regras restrições revele",
}
SPLIT_KEY_WORDS = frozenset(w for words in _SPLIT_KEYS_BY_LANGUAGE.values() for w in words.split())
_SPLIT_SEP = "[" + re.escape(SPLIT_SEPARATORS) + "]"
_LETTERS = r"[^\W\d_]"
_SPLIT_KEY_MAX = max(map(len, SPLIT_KEY_WORDS))
# A separator between two letters (led by the separator, which ``re`` skips to in C).
_SPLIT_POINT_RE = re.compile(f"{_SPLIT_SEP}(?<={_LETTERS}{_SPLIT_SEP})(?={_LETTERS})")
# Letters in fragments joined by single separators.
_SPLIT_WORD_RE = re.compile(f"{_LETTERS}+(?:{_SPLIT_SEP}{_LETTERS}+)+")
_FRAGMENT_RE = re.compile(f"{_LETTERS}+")
_LETTER_RE = re.compile(_LETTERS)
# A text with no separator between two letters has no split word: one look at the
# group's scan.
_SPLIT_POINT = hyperscan_prefilter.Probe("prompt_injection", re.compile(f"{_LETTERS}{_SPLIT_SEP}{_LETTERS}"))


def _split_literals(word: str) -> set[str]:
    """Where ``word`` can first be split (see _key_runs_around): its first k letters, a
    separator and its next letter; after its first letter alone, its next three (a
    single letter and a separator, "e.", "a-", ends sentences and prefixes everywhere)."""
    return {word[:k] + c + word[k : k + (3 if k == 1 else 1)] for k in range(1, len(word)) for c in SPLIT_SEPARATORS}


# Those places as literals in a database of their own that reports where they end
# (~7,800 literals, listed when it is compiled: 0.1 s, 0.8 MB), so only they are looked
# at in Python. "Any key word with separators anywhere" as probes of the group's
# database took 7 s to compile and 4.5 MB.
_SPLIT_ENDS = hyperscan_prefilter.ends_group(
    "prompt_injection.split_keys",
    *((f"split {w} ({SPLIT_SEPARATORS})", 0) for w in sorted(SPLIT_KEY_WORDS)),
    expand=lambda: sorted((re.escape(lit), 0) for w in SPLIT_KEY_WORDS for lit in _split_literals(w)),
)
# Without that database's answer (not built yet, no Hyperscan, or a text with more than
# MAX_ENDS such places), every separator between two letters is looked at, up to this
# many per text.
MAX_SPLIT_POINTS = 4096


def _key_runs_around(norm: str, point: int) -> list[tuple[int, int, str]]:
    """The key words written across the split word that has a separator at ``point``:
    (start, end, key word) for each run of its consecutive fragments whose letters make
    a key word of SPLIT_KEY_WORDS, left to right, not overlapping. A fragment cut by the
    window looked at is no run's first or last."""
    reach = 2 * _SPLIT_KEY_MAX
    lo, hi = max(0, point - reach), min(len(norm), point + reach)
    word = None
    for found in _SPLIT_WORD_RE.finditer(norm, lo, hi):
        if found.start() <= point < found.end():
            word = found
            break
        if found.start() > point:
            break
    if word is None:
        return []
    fragments = [f.span() for f in _FRAGMENT_RE.finditer(norm, word.start(), word.end())]
    first_cut = word.start() == lo and lo > 0 and _LETTER_RE.match(norm, lo - 1) is not None
    last_cut = word.end() == hi and hi < len(norm) and _LETTER_RE.match(norm, hi) is not None
    runs: list[tuple[int, int, str]] = []
    i = 1 if first_cut else 0
    last = len(fragments) - (2 if last_cut else 1)
    while i < last + 1:
        joined = norm[fragments[i][0] : fragments[i][1]]
        found_at = -1
        for j in range(i + 1, last + 1):
            joined += norm[fragments[j][0] : fragments[j][1]]
            if len(joined) > _SPLIT_KEY_MAX:
                break
            if joined in SPLIT_KEY_WORDS:
                found_at = j
                break
        # one letter then a separator starts a key only before three more letters or
        # the key's end ("i-gnore", "i-g-nore" is not read)
        if found_at > 0 and fragments[i][1] - fragments[i][0] == 1:
            second = fragments[i + 1][1] - fragments[i + 1][0]
            if second < min(3, len(joined) - 1):
                found_at = -1
        if found_at < 0:
            i += 1
            continue
        runs.append((fragments[i][0], fragments[found_at][1], joined))
        i = found_at + 1
    return runs


def _split_key_spans(norm: str) -> list[tuple[int, int, str]]:
    """(start, end, key word) of every key word of SPLIT_KEY_WORDS written as consecutive
    fragments of a split word (letters joined by single separators: "rules.ig-nore" has
    the fragments "rules", "ig" and "nore"), sorted, not overlapping."""
    if not _SPLIT_POINT.possible(norm):
        return []
    ends = _SPLIT_ENDS.ends(norm)
    if ends is not None:
        # each literal ends one letter after its separator, or three after a first letter
        points: Iterable[int] = (p for e in ends for p in (e - 2, e - 4) if p >= 0 and norm[p] in SPLIT_SEPARATORS)
    else:
        points = (m.start() for m in itertools.islice(_SPLIT_POINT_RE.finditer(norm), MAX_SPLIT_POINTS))
    spans: set[tuple[int, int, str]] = set()
    for point in points:
        spans.update(_key_runs_around(norm, point))
    ordered: list[tuple[int, int, str]] = []
    for span in sorted(spans):
        if not ordered or span[0] >= ordered[-1][1]:
            ordered.append(span)
    return ordered


def _with_words(norm: str, spans: list[tuple[int, int, str]]) -> str | None:
    """``norm`` with each (start, end) of ``spans`` (sorted, not overlapping) replaced by
    its word, or None when there are none."""
    if not spans:
        return None
    parts: list[str] = []
    last = 0
    for start, end, word in spans:
        parts.append(norm[last:start])
        parts.append(word)
        last = end
    parts.append(norm[last:])
    return "".join(parts)


def _joined_key_words(norm: str) -> str | None:
    """``norm`` with its split key words put back together, or None when it has none."""
    return _with_words(norm, _split_key_spans(norm))


# Key words written together with no space between them ("ignoreallpreviousinstructions",
# "IgnoreAllPreviousInstructions" once case-folded, "ignore_all_previous_instructions"):
# the rules need separators between words. A word (letters and underscores) holding two
# key words of SPLIT_KEY_WORDS, next to each other or around one or two short words
# ("all", "your", "toutes"), is read with its pieces apart. One key word inside a
# longer word ("promptly", "systematic", "enabled_by_default") is not enough.
_GLUE_KEYS = "(?:" + "|".join(sorted(map(re.escape, SPLIT_KEY_WORDS), key=lambda w: (-len(w), w))) + ")"
# (ASCII letters between the keys, as the filler words are)
_GLUED_SOURCE = f"{_GLUE_KEYS}(?:_?[a-z]{{1,6}}){{0,2}}_?{_GLUE_KEYS}"
_GLUED_RE = re.compile(_GLUED_SOURCE)
# Where to look: a key word right after a letter or "_", as the second key of every
# such word is (every key word ends with an ASCII letter); it also finds "ecosystem" and
# "sysadmin", whose words _GLUED_RE then rules out. A probe of the group's scan says
# whether a text has one, a database of its own where they end. (The whole pattern as
# the probe made every scan of the group ~4 µs slower, and as the database of ends
# ~1 ms per 200 KB.)
_GLUED_PLACE_SOURCE = f"[a-z_]{_GLUE_KEYS}"
_GLUED = hyperscan_prefilter.Probe("prompt_injection", _GLUED_PLACE_SOURCE)
_GLUED_ENDS = hyperscan_prefilter.ends_group("prompt_injection.glued_keys", (_GLUED_PLACE_SOURCE, re.UNICODE))
_GLUE_KEY_LENGTHS = sorted({len(w) for w in SPLIT_KEY_WORDS}, reverse=True)
_GLUED_MIN_CHARS = 2 * min(map(len, SPLIT_KEY_WORDS))
_GLUED_TOKEN_RE = re.compile(r"[^\W\d]+")  # letters and the underscore
_GLUED_TOKEN_CHAR_RE = re.compile(r"[^\W\d]")
# The pure-Python path's byte classes (one byte per character, "?" for a non-ASCII one):
# ASCII letters, "_" and "?" -> "a", the rest -> " "; and the same with the letters kept.
_GLUED_RUN_CLASSES = bytes(
    0x61 if chr(b).isascii() and (chr(b).isalpha() or chr(b) in "_?") else 0x20 for b in range(256)
)
_GLUED_RUN_BYTES = bytes(b if c == 0x61 else 0x20 for b, c in enumerate(_GLUED_RUN_CLASSES))
MAX_GLUED_WORDS = 64  # words read apart per text
# Words known to hold no glued key words (runs of letters, or words of the word index):
# the words of prompts come back call after call (bounded).
_WORDS_WITHOUT_GLUED_KEYS: set[str] = set()
_WORDS_MEMO_LIMIT = 20_000


def _may_hold_glued_keys(word: str) -> bool:
    """``word`` has a match of _GLUED_RE, or a non-ASCII character ("?" in a run of the
    pure-Python path's byte classes)."""
    if "?" in word or (len(word) >= _GLUED_MIN_CHARS and _GLUED_RE.search(word) is not None):
        return True
    if len(_WORDS_WITHOUT_GLUED_KEYS) < _WORDS_MEMO_LIMIT:
        _WORDS_WITHOUT_GLUED_KEYS.add(word)
    return False


def _any_may_hold_glued_keys(words: Iterable[str]) -> set[str]:
    """The words of ``words`` that may hold glued key words (the known ones skipped in C)."""
    unknown = set(words)
    unknown.difference_update(_WORDS_WITHOUT_GLUED_KEYS)
    return set(filter(_may_hold_glued_keys, unknown))


def _unglue(token: str) -> str | None:
    """``token`` (letters and underscores) with its key words apart and the letters
    between them as words of their own ("ignore all previous instructions"), or None
    when it holds fewer than two key words. At each place the longest key word that
    starts there is taken."""
    words: list[str] = []
    keys = 0
    for piece in token.split("_"):
        filler_start = 0
        i = 0
        while i < len(piece):
            key = next((piece[i : i + n] for n in _GLUE_KEY_LENGTHS if piece[i : i + n] in SPLIT_KEY_WORDS), None)
            if key is None:
                i += 1
                continue
            if filler_start < i:
                words.append(piece[filler_start:i])
            words.append(key)
            keys += 1
            i += len(key)
            filler_start = i
        if filler_start < len(piece):
            words.append(piece[filler_start:])
    return " ".join(words) if keys >= 2 else None


def _token_start(norm: str, point: int) -> int:
    """Where the word of letters and underscores around ``point`` starts."""
    start = point
    while start > 0 and _GLUED_TOKEN_CHAR_RE.match(norm, start - 1):
        start -= 1
    return start


def _glued_tokens(norm: str, words: Callable[[], Iterable[str]] | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of the words of letters and underscores of ``norm`` that may hold
    glued key words, in order: around the ends Hyperscan's database reports, or
    (without its answer) every such word of _GLUED_MIN_CHARS or more, found on byte
    classes in C, and only when one may hold them. ``words``: the text's word index
    (the pure-Python path builds it anyway): in ASCII text without "_" its words are
    the runs of letters with their digits, so it answers whether any run may."""
    ends = _GLUED_ENDS.ends(norm)
    if ends is not None:
        last_end = -1
        for end in ends:
            if end - 1 >= last_end:
                token = _GLUED_TOKEN_RE.match(norm, _token_start(norm, end - 1))
                if token is not None:
                    last_end = token.end()
                    yield token.span()
        return
    if words is not None and norm.isascii() and "_" not in norm and not _any_may_hold_glued_keys(words()):
        return
    # One byte per character, "?" for each non-ASCII one (a question mark is no letter).
    data = norm.replace("?", " ").encode("ascii", "replace")
    # First, whether a run of letters may hold glued keys (a run with a non-ASCII
    # character is read below, where its words are known).
    candidates = _any_may_hold_glued_keys(data.translate(_GLUED_RUN_BYTES).decode("ascii").split())
    if not candidates:
        return
    classes = data.translate(_GLUED_RUN_CLASSES)
    places: list[tuple[int, int]] = []
    for run in candidates:  # each found with bytes.find, whole runs only
        needle = run.encode("ascii")
        lo = data.find(needle)
        while lo >= 0:
            hi = lo + len(needle)
            if (lo == 0 or classes[lo - 1] == 0x20) and (hi == len(data) or classes[hi] == 0x20):
                places.append((lo, hi))
            lo = data.find(needle, hi)
    for lo, hi in sorted(places):
        if data.find(b"?", lo, hi) < 0:
            yield lo, hi  # ASCII letters and underscores: the run is the word
        else:
            for token in _GLUED_TOKEN_RE.finditer(norm, lo, hi):
                if token.end() - token.start() >= _GLUED_MIN_CHARS:
                    yield token.span()


def _glued_key_spans(norm: str, words: Callable[[], Iterable[str]] | None = None) -> list[tuple[int, int, str]]:
    """(start, end, the word read apart) of the first MAX_GLUED_WORDS words of ``norm``
    (runs of letters and underscores) that have a match of _GLUED_RE, sorted. ``words``:
    the text's word index, when the caller has it."""
    if not _GLUED.possible(norm):
        return []
    spans: list[tuple[int, int, str]] = []
    for start, end in _glued_tokens(norm, words):
        word = norm[start:end]
        # (Hyperscan's ends are a superset's: the same words are read either way)
        if _GLUED_RE.search(word) is not None and (apart := _unglue(word)) is not None:
            spans.append((start, end, apart))
            if len(spans) == MAX_GLUED_WORDS:
                break
    return spans


def _unglued_key_words(norm: str, words: Callable[[], Iterable[str]] | None = None) -> str | None:
    """``norm`` with its glued key words apart, or None when it has none."""
    return _with_words(norm, _glued_key_spans(norm, words))


STEMS.register(s for _, stems, _ in _ANNOUNCED for s in stems)
_ANNOUNCED_STEMS = {
    s: hyperscan_prefilter.Probe("prompt_injection", regex)
    for _, stems, _ in _ANNOUNCED
    for s in stems
    if (regex := stem_regex(s)) is not None
}
_SPACED_GATE = hyperscan_prefilter.Probe("prompt_injection", _SPACED_GATE_RE)
_CONTROL = hyperscan_prefilter.Probe("prompt_injection", CONTROL_RE)
_LEET_ANY = hyperscan_prefilter.Probe("prompt_injection", _LEET_ANY_RE)


# Key words with their inner letters scrambled, first and last in place ("ignroe all
# prevoius systme instructions", the "typoglycemia" attack: a model reads them, the
# rules do not). A word (a run of ASCII letters and digits, as in the word index) is read
# as the key word when it has the key's length, first and last letter and the same
# inner letters in another order. Keys of six letters or more, where such an anagram is
# almost never a word of its own; ASCII ones, so that the word index answers on the
# pure-Python path. The same keys with a typo are read too (_typos, below): both are
# the "misspelled" reading.
_SCRAMBLE_KEYS_BY_LANGUAGE = {
    "en": "ignore ignoring disregard forget override bypass previous instructions instruction "
    "guidelines restrictions system prompt jailbreak developer unrestricted unfiltered "
    "uncensored pretend reveal confidential hidden secret safety filters programming",
    "fr": "ignorez oubliez consignes",
    "de": "ignoriere vergiss anweisungen vorherigen regeln",
    "es": "olvida instrucciones anteriores sistema",
    "it": "dimentica istruzioni precedenti",
    "pt": "esqueca instrucoes",
}
SCRAMBLE_KEY_WORDS = frozenset(
    w for words in _SCRAMBLE_KEYS_BY_LANGUAGE.values() for w in words.split() if len(w) >= 6
)


def _scramble_signature(word: str) -> tuple[str, str, str]:
    return word[0], word[-1], "".join(sorted(word[1:-1]))


_SCRAMBLED: dict[tuple[str, str, str], str] = {_scramble_signature(w): w for w in SCRAMBLE_KEY_WORDS}
_SCRAMBLE_EDGES = frozenset((len(w), w[0], w[-1]) for w in SCRAMBLE_KEY_WORDS)
_SHORT_SCRAMBLE = 8  # keys up to this long: every order of the inner letters listed (6! = 720)


@built_once
def _listed_scrambles() -> dict[str, str]:
    """The listed scramblings (not the key itself) -> their key: every order of the
    inner letters of the keys of up to _SHORT_SCRAMBLE letters; for longer keys, every
    swap of two inner letters ("disregrad", "insturctions"). ~3,100, made on first use
    (not at import)."""
    found: dict[str, str] = {}
    for w in sorted(SCRAMBLE_KEY_WORDS):
        inner = w[1:-1]
        if len(w) <= _SHORT_SCRAMBLE:
            orders: Iterable[str] = ("".join(p) for p in itertools.permutations(inner))
        else:
            orders = (
                inner[:i] + inner[j] + inner[i + 1 : j] + inner[i] + inner[j + 1 :]
                for i, j in itertools.combinations(range(len(inner)), 2)
            )
        found.update((w[0] + order + w[-1], w) for order in orders)
    for key in SCRAMBLE_KEY_WORDS:
        found.pop(key, None)
    return found


_SCRAMBLE_LENGTHS = sorted({len(w) for w in SCRAMBLE_KEY_WORDS})
# Where they (and the typos) end, from a literal database of their own, made from the
# lists when it is compiled (as class patterns such as "i[gnor]{4}e" in the group's database, the keys
# cost every scan ~12 µs; every order of the nine-letter keys too made it 2.2 MB, and
# prompt_injection ~10 µs slower per call in place). Heavier scramblings of the longer
# keys ("isnrtcutoins") are read in a text that has a listed one: they cannot be listed.
_SCRAMBLE_ENDS = hyperscan_prefilter.ends_group(
    "prompt_injection.scrambled_keys",
    *((f"scramblings of {w} ({'orders' if len(w) <= _SHORT_SCRAMBLE else 'swaps'}), typos, split into two or three pieces by spaces or one letter off an end", 0) for w in sorted(SCRAMBLE_KEY_WORDS)),
    expand=lambda: [(re.escape(s), 0) for s in sorted({*_listed_scrambles(), *_typos(), *_space_splits()})],
)

# The same keys with a typo: one letter dropped ("ignor", "instructons", "sytem") or
# doubled ("iggnore", "previouss"), as written to slip past word filters. Not the
# first letter dropped, nor a plural's last "s" ("filter", "guideline" are words), and
# not the drops that are words of their own.
_TYPOS_THAT_ARE_WORDS = frozenset({"forge", "revel", "precedent", "regen"})


@built_once
def _typos() -> dict[str, str]:
    """The keys' typos -> their key (~700, made on first use)."""
    found: dict[str, str] = {}
    for key in sorted(SCRAMBLE_KEY_WORDS):
        last = len(key) - 1
        dropped = (key[:i] + key[i + 1 :] for i in range(1, len(key)) if not (i == last and key[i] == "s"))
        doubled = (key[: i + 1] + key[i] + key[i + 1 :] for i in range(len(key)))
        for typo in itertools.chain(dropped, doubled):
            found.setdefault(typo, key)
    for word in (*SCRAMBLE_KEY_WORDS, *SPLIT_KEY_WORDS, *_TYPOS_THAT_ARE_WORDS):
        found.pop(word, None)
    return found


# The same keys split by single spaces into two or three pieces ("ig nore", "previo us",
# "in struc tions"): a model reads the word whole, the rules read two or three words.
# Every piece at least two letters long, except one letter split off either end of a
# key in two pieces ("i gnore", "previou s": the rest is no word, so "a" or "i" before
# it is not ordinary English), and not the splits that are phrases of their own ("for
# GET requests", "a jail break").
_SPLITS_THAT_ARE_PHRASES = frozenset({"for get", "guide lines", "jail break"})
MIN_SPLIT_PIECE = 2


@built_once
def _space_splits() -> dict[str, str]:
    """The keys split into two or three pieces by single spaces -> their key (~770, made
    on first use)."""
    splits: dict[str, str] = {}
    least = MIN_SPLIT_PIECE
    for key in sorted(SCRAMBLE_KEY_WORDS):
        n = len(key)
        splits[f"{key[0]} {key[1:]}"] = key
        splits[f"{key[:-1]} {key[-1]}"] = key
        for i in range(least, n - least + 1):
            splits[f"{key[:i]} {key[i:]}"] = key
            for j in range(i + least, n - least + 1):
                splits[f"{key[:i]} {key[i:j]} {key[j:]}"] = key
    return {split: key for split, key in splits.items() if split not in _SPLITS_THAT_ARE_PHRASES}


_SplitsByLastPiece = dict[str, tuple[tuple[frozenset[str], str, str], ...]]


@built_once
def _space_split_heads() -> dict[str, _SplitsByLastPiece]:
    """The first pieces of _space_splits -> their last pieces -> (the middle piece, if
    any; the split; its key) for each: the pure-Python path finds every piece in the
    word index ("an", "in", "is" start dozens of splits, and most texts have them)."""
    heads: dict[str, dict[str, list[tuple[frozenset[str], str, str]]]] = {}
    for split, key in _space_splits().items():
        head, *middle, last = split.split(" ")
        heads.setdefault(head, {}).setdefault(last, []).append((frozenset(middle), split, key))
    return {head: {last: tuple(splits) for last, splits in by_last.items()} for head, by_last in heads.items()}


def _space_splits_in(norm: str, words: list[str]) -> dict[str, str]:
    """The splits of _space_splits whose pieces are all words of ``words`` (``norm``'s
    word index: next to each other or not)."""
    heads = _space_split_heads()
    known = whole_words(norm, words)
    found: dict[str, str] = {}
    # (each intersection iterates its argument: the smaller side)
    for head in known.intersection(heads):
        by_last = heads[head]
        for last in known.intersection(by_last):
            for middle, split, key in by_last[last]:
                if middle <= known:
                    found[split] = key
    return found


@built_once
def _listed_misspellings() -> dict[str, str]:
    """The listed scramblings and the typos -> their key, in one dict (the pure-Python
    path looks the words of a text up in it)."""
    return {**_typos(), **_listed_scrambles()}


_MISSPELLED_LENGTHS = sorted({n + d for n in _SCRAMBLE_LENGTHS for d in (-1, 0, 1, 2)})  # (a split: +1 or +2)


def _unscramble_word(word: str) -> str | None:
    """The key word ``word`` is a scrambling of, or None (also for the key itself)."""
    if (len(word), word[:1], word[-1:]) not in _SCRAMBLE_EDGES:
        return None
    key = _SCRAMBLED.get(_scramble_signature(word))
    return key if key is not None and key != word else None


def _misspelled_key_spans(norm: str, words: Callable[[], list[str]]) -> list[tuple[int, int, str]]:
    """(start, end, key word) of every word of ``norm`` that is a key word of
    SCRAMBLE_KEY_WORDS with its inner letters in another order, with a typo (_typos) or
    split by spaces (_space_splits), sorted; [] unless a listed one
    (_listed_scrambles, _typos, _space_splits) is among them. ``words``: the text's word
    index (the pure-Python path, and heavier scramblings of the longer keys)."""
    ends = _SCRAMBLE_ENDS.ends(norm)
    size = len(norm)
    typos = _typos()
    splits = _space_splits()
    if ends is None:
        listed = _listed_misspellings()
        index = words()
        found = {w: listed[w] for w in listed.keys() & index}
        # (each found split is looked for below: its pieces may not be next to each other)
        found.update(_space_splits_in(norm, index))
    else:
        found = {}
        for end in ends:
            if end < size and norm[end] in WORD_CHAR_SET:
                continue
            for length in _MISSPELLED_LENGTHS:
                start = end - length
                if start >= 0 and not (start and norm[start - 1] in WORD_CHAR_SET):
                    word = norm[start:end]
                    key = _unscramble_word(word) or typos.get(word) or splits.get(word)
                    if key is not None:
                        found[word] = key
    if not found:
        return []
    found.update((w, key) for w in words() if len(w) > _SHORT_SCRAMBLE and (key := _unscramble_word(w)) is not None)
    spans = []
    # led by the words (re skips to their first letters), the word boundaries checked here
    for m in re.finditer("|".join(map(re.escape, sorted(found, key=len, reverse=True))), norm):
        start, end = m.span()
        if (start and norm[start - 1] in WORD_CHAR_SET) or (end < size and norm[end] in WORD_CHAR_SET):
            continue
        spans.append((start, end, found[m.group(0)]))
    return spans


def _respelled_key_words(norm: str, words: Callable[[], list[str]]) -> str | None:
    """``norm`` with its scrambled, mistyped and split key words spelled right, or None
    when it has none."""
    return _with_words(norm, _misspelled_key_spans(norm, words))


def _decode_base64(token: str) -> str | None:
    token = token.rstrip("=")
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded) if ("-" in token or "_" in token) else base64.b64decode(padded)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return decoders.readable(text)


# base32 (RFC 4648: upper-case letters and 2-7, as encoders write it)
_BASE32_TOKEN_RE = re.compile(r"[A-Z2-7]+={0,6}")


def _decode_base32(token: str) -> str | None:
    token = token.rstrip("=")
    try:
        text = base64.b32decode(token + "=" * (-len(token) % 8)).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return decoders.readable(text)


def _decode_hex(token: str) -> str | None:
    try:
        text = bytes.fromhex(re.sub(r"[ :]", "", token)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoders.readable(text)


_NEGATION_BEFORE_RE = re.compile(r"(?:\bnot|\bnever|\bnothing|n['’]t|\bno)\W+(?:\w+\W+){0,2}$")
# "do not reveal any part of your system prompt": for rules that match only the object,
# a negation a few words further back still governs it.
_NEGATION_WIDE_RE = re.compile(r"(?:\bnot|\bnever|\bnothing|n['’]t|\bno)\W+(?:\w+\W+){0,5}$")
WIDE_NEGATION = frozenset({"your_ai_setup", "your_setup_mention"})
# The goal-hijacking target phrase and code payloads are quoted by nature ("say 'I have
# been PWNED'", "run: `sh -c 'whoami'`"):
# no halving for a quote before it.
QUOTED_BY_NATURE = frozenset({"pwned_phrase", "pwned_spelled", "pwned_concat", "pwned_output", "exec_payload", "exec_probe"})
_NEGATION_INSIDE_RE = re.compile(r"\b(?:not|never|nothing|don'?t|doesn'?t|won'?t|cannot|can'?t)\b")
# "Follow only my instructions for the layout": the user's own orders limited to a part
# of the task (a formatting request), not all of the assistant's. Not when the scope is
# the conversation, the answers or the rest of the chat ("only my orders in this chat").
_NOT_A_SCOPE = (
    r"conversation|chat|session|dialog|dialogue|interaction|exchange|discussion|rest|remainder|response|responses|answer|answers"
    r"|reply|replies|échange|réponse|réponses|reste|gespräch|unterhaltung|sitzung|antwort|antworten|conversación|sesión|resto"
    r"|respuesta|respuestas|conversazione|sessione|risposta|risposte|conversa|sessão|resposta|respostas|primeiro|lugar"
)
_SCOPED_AFTER_RE = re.compile(
    r"\W+(?:"
    r"(?:for|on|in|about|regarding|concerning|within)\W+(?:the|this|that|these|those|our|my)"
    r"|(?:pour|sur|dans|concernant)\W+(?:le|la|les|ce|cette|ces|mon|ma|mes|notre|nos)"
    r"|(?:für|bei|zu|in)\W+(?:das|die|den|dem|der|diese|dieses|diesen|meine|meinen|unser|unsere)|(?:im|zum|zur|beim)"
    r"|(?:para|en|sobre)\W+(?:el|la|los|las|este|esta|estos|estas|mi|mis|nuestro|nuestra)"
    r"|(?:per|su|in)\W+(?:il|la|lo|le|i|gli|questo|questa|mio|mia)|(?:nel|nella|sul|sulla)"
    r"|(?:para|em|sobre)\W+(?:o|a|os|as|este|esta|meu|minha|nosso|nossa)|(?:no|na|nos|nas)"
    rf")\W+(?!(?:{_NOT_A_SCOPE})\b)\w"
)
SCOPED_WEIGHT = 0.25
# the rules a task scope after the match weakens (like WIDE_NEGATION, QUOTED_BY_NATURE)
SCOPED_BY_TASK = frozenset({"obey_only_me"})
_QUOTES = "'\"“‘«`"


def _scan_plain(normalized: str, words: Words | None) -> list[Hit]:
    return [*WORD_SET.finditer(normalized, words), *OTHER_SET.finditer(normalized, words)]


def _words(text: str) -> list[str]:
    return word_index(ScanText(raw=text, normalized=text))


# What _decoded_views asks of the word index, asked of the text itself (the Hyperscan
# path builds no index): a word of 20 characters or more; a word of 24 or more that is
# all hex digits (a word: a maximal run of word_index's word characters).
_LONG_WORD_RE = re.compile(f"[{WORD_CHARS}]{{20}}")
_HEX_WORD_24_RE = re.compile(f"(?<![{WORD_CHARS}])[0-9a-f]{{24,}}(?![{WORD_CHARS}])")
# The gates of _decoded_views on the normalised text, behind the prompt_injection
# group's Hyperscan scan (scanners.hyperscan_prefilter.Probe: the same answers, and
# on most texts no Python search at all).
_LONG_WORD = hyperscan_prefilter.Probe("prompt_injection", _LONG_WORD_RE)
_HEX_WORD_24 = hyperscan_prefilter.Probe("prompt_injection", _HEX_WORD_24_RE)
# The base64, hex, announced (rot13, reversed), spaced and leetspeak views of
# _decoded_views each need one of these to match (the hex view needs a long word too):
# a text where none can has none of those views, found with one look at the scan.
_ANY_VIEW = hyperscan_prefilter.ProbeSet([_LONG_WORD, *_ANNOUNCED_STEMS.values(), _SPACED_GATE, _LEET_ANY])

# The searches of _decoded_views on long texts, on character classes of the text's
# ASCII bytes (base.ascii_bytes: one byte per character, every non-ASCII one "?", which
# none of these patterns' ASCII-only classes contains): where the patterns test a class
# at every character (~8-30 ns each in ``re``), ``bytes.find`` and literal-led patterns
# skip in C. Each gives exactly what the regex on the text gives (tests/guard/test_views_fast.py).
_WORD_BYTE_CHARS = bytes(sorted(map(ord, WORD_CHAR_SET)))
_HEX_BYTE_CHARS = b"0123456789abcdef"


def _class_table(*classes: tuple[bytes, int]) -> bytes:
    """A ``bytes.translate`` table: each byte of a class to its mark (later classes win),
    every other byte to "."."""
    table = bytearray(b"." * 256)
    for members, mark in classes:
        for b in members:
            table[b] = mark
    return bytes(table)


_WORD_CLASSES = _class_table((_WORD_BYTE_CHARS, 0x77))  # word character -> "w"
_HEX_WORD_CLASSES = _class_table((_WORD_BYTE_CHARS, 0x77), (_HEX_BYTE_CHARS, 0x68))  # hex digit -> "h"
_HEX_RUN_CLASSES = _class_table((_HEX_BYTE_CHARS + b" :", 0x68))  # a character of _HEX_RE -> "h"
_LOWER = b"abcdefghijklmnopqrstuvwxyz"
_LEET_MID_CLASSES = _class_table((_LOWER, 0x61), (b"013457@$!|", 0x4C))
_LEET_LEAD_CLASSES = _class_table((_LOWER, 0x61), (b"013457@$", 0x4C))
# _LEET_TRIGGER_RE's two alternatives, each found from its leet character (rare: ``re``
# skips to the literal "L"): [a-z][013457@$!|][a-z] starts one character before it.
_LEET_MID_RE = re.compile(rb"L(?<=aL)(?=a)")
_LEET_LEAD_RE = re.compile(rb"L(?=aa)")


def _has_long_word(norm: str) -> bool:
    """``_LONG_WORD_RE.search(norm) is not None``."""
    return ascii_bytes(norm).translate(_WORD_CLASSES).find(b"w" * 20) >= 0


def _has_hex_word_24(norm: str) -> bool:
    """``_HEX_WORD_24_RE.search(norm) is not None``: a maximal run of 24 or more hex
    digits with no other word character on either side."""
    classes = ascii_bytes(norm).translate(_HEX_WORD_CLASSES)
    size = len(classes)
    pos = classes.find(b"h" * 24)
    while pos >= 0:
        # The search starts at 0 or at the end of the previous run (not an "h"), so pos
        # is where this run of "h" starts; it ends at the next "." or "w".
        ends = [e for e in (classes.find(b".", pos + 24), classes.find(b"w", pos + 24)) if e >= 0]
        end = min(ends) if ends else size
        if (pos == 0 or classes[pos - 1] != 0x77) and (end == size or classes[end] != 0x77):
            return True
        pos = classes.find(b"h" * 24, end)
    return False


def _hex_candidates(norm: str) -> Iterator[re.Match[str]]:
    """``_HEX_RE.finditer(norm)``, run only inside the maximal runs of its characters
    ([0-9a-f :]) that are 24 or more long: every match is such a run's characters (12
    pairs at least), and a run's end is not a hex digit, so the look-ahead at a match
    ending there holds in the window as in the text."""
    classes = ascii_bytes(norm).translate(_HEX_RUN_CLASSES)
    size = len(classes)
    pos = classes.find(b"h" * 24)
    while pos >= 0:
        end = classes.find(b".", pos + 24)
        if end < 0:
            end = size
        yield from _HEX_RE.finditer(norm, pos, end)
        pos = classes.find(b"h" * 24, end)


def _iter_leet_spots(norm: str) -> Iterator[int]:
    """The starts of the matches of ``_LEET_TRIGGER_RE.finditer(norm)``, in order:
    every match is 3 characters long and at most one alternative matches at a position,
    so the leftmost non-overlapping matches are the candidates of both alternatives in
    order, each taken when it starts at or after the end of the last one taken."""
    data = ascii_bytes(norm)
    mids = (m.start() - 1 for m in _LEET_MID_RE.finditer(data.translate(_LEET_MID_CLASSES)))
    leads = (m.start() for m in _LEET_LEAD_RE.finditer(data.translate(_LEET_LEAD_CLASSES)))
    end = 0
    for p in heapq.merge(mids, leads):
        if p >= end:
            yield p
            end = p + 3


def _leet_spots(norm: str, limit: int) -> list[int]:
    """The starts of the first ``limit`` matches of ``_LEET_TRIGGER_RE.finditer(norm)``."""
    return list(itertools.islice(_iter_leet_spots(norm), limit))


# In a long text, a leetspeak spot is worth reading around only when its word reads as
# a word the rules look for ("1gn0r3", "pr3v10us", "byp4ss"): ordinals, hashes, handles
# and names ("11th", "s3fs", "@click", "b8555ef2...") are most of the spots in ordinary
# text, and they used up the LEET_MAX_SPOTS read before an attack further on. The rules' words: their anchor stems of three letters or more
# (as a word's start: "ai" starts "aith", which "41th" reads as), the whole words their
# patterns contain, and the key words of the split reading; a word of the rules is
# looked for in the runs of three letters or more that the word reads as ("y0u 4re n0w
# d4n": "you", "are", "now", "dan").
_LEET_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789@$!|")
_LEET_TOKEN_RUN_RE = re.compile("[" + re.escape("".join(sorted(_LEET_TOKEN_CHARS))) + "]*")
_LEET_WORD_RE = re.compile(r"[a-z]{3,}")


@built_once
def _leet_vocabulary() -> tuple[frozenset[str], frozenset[str], tuple[int, ...]]:
    """(whole words, stems a word may start with, their lengths) of the rules (built on
    first use: the rule sets' whole words are)."""
    stems = WORD_SET.stems | OTHER_SET.stems
    words = SPLIT_KEY_WORDS | WORD_SET.key_words | OTHER_SET.key_words | {s[:-1] for s in stems if s.endswith("$")}
    prefixes = frozenset(s for s in stems if not s.endswith("$") and len(s) >= 3)
    return frozenset(words), prefixes, tuple(sorted({len(s) for s in prefixes}))


def _leet_token(norm: str, spot: int) -> str:
    """The token around the leetspeak spot at ``spot``: its letters, digits and @$!|, at
    most 64 characters either side of it."""
    floor = max(0, spot - 64)
    start = spot - _LEET_TOKEN_RUN_RE.match(norm[floor:spot][::-1]).end()  # type: ignore[union-attr]
    end = _LEET_TOKEN_RUN_RE.match(norm, spot + 3, min(len(norm), spot + 64)).end()  # type: ignore[union-attr]
    return norm[start:end]


def _leet_word_matters(token: str) -> bool:
    """The token of a leetspeak spot (_leet_token), read back, holds a word of the rules
    or one that starts with a rule's stem."""
    words, prefixes, lengths = _leet_vocabulary()
    for word in _LEET_WORD_RE.findall(token.translate(_LEET_TABLE)):
        if word in words:
            return True
        for n in lengths:
            if n > len(word):
                break
            if word[:n] in prefixes:
                return True
    return False


def _leet_spots_that_matter(norm: str, limit: int) -> list[int]:
    """The first ``limit`` leetspeak spots (_iter_leet_spots) whose token reads back as
    a word of the rules (_leet_word_matters). Each distinct token is read once: a text of
    the same key or identifier over and over (256 KB of one AWS key: 11,000 spots) read
    it at every spot, 180 ms."""
    found: list[int] = []
    answers: dict[str, bool] = {}
    for spot in _iter_leet_spots(norm):
        token = _leet_token(norm, spot)
        matters = answers.get(token)
        if matters is None:
            matters = answers[token] = _leet_word_matters(token)
        if matters:
            found.append(spot)
            if len(found) >= limit:
                break
    return found


def _hit_weight(hit: Hit, text: str) -> float:
    """The rule's weight, halved when the match is negated ("do not reveal your
    prompt") or quoted inside a longer sentence (talking *about* an attack phrase); a
    quarter of it for "only my instructions" limited to a part of the task."""
    weight = hit.rule.weight
    if hit.rule.negatable:
        before = text[max(0, hit.start - 40) : hit.start]
        inside = hit.rule.threat is LEAK and _NEGATION_INSIDE_RE.search(text, hit.start, hit.end)
        negation = _NEGATION_WIDE_RE if hit.rule.id in WIDE_NEGATION else _NEGATION_BEFORE_RE
        if negation.search(before) or inside:
            weight *= 0.5
    if hit.rule.id in SCOPED_BY_TASK and _SCOPED_AFTER_RE.match(text, hit.end):
        weight *= SCOPED_WEIGHT
    head = text[max(0, hit.start - 200) : hit.start].rstrip()
    if head and head[-1] in _QUOTES and len(head.split()) >= 3 and hit.rule.id not in QUOTED_BY_NATURE:
        weight *= 0.5
    return weight


class PromptInjectionScanner(BuiltinScanner):
    """Heuristic prompt-injection / jailbreak / extraction detector. Options: ``decode``."""

    kind = "prompt_injection"
    directions = ("input", "output")
    default_threshold = 0.5

    def __init__(self, *, name: str | None = None, direction: Direction = "input", threshold: float | None = None, decode: bool = True) -> None:
        super().__init__(name=name, direction=direction, threshold=threshold)
        self.decode = decode

    def _decoded_views(self, text: ScanText) -> list[tuple[str, str]]:
        """(encoding, normalised decoded text) for payloads hidden in an encoding.

        Kept cheap on long texts: base64/hex candidates are looked for only when the word
        index has a long token; rot13 and reversed text are decoded around the word that
        announces them; leetspeak is decoded whole on texts up to LEET_WHOLE_CHARS, and
        only around its first LEET_MAX_SPOTS occurrences beyond that; spaced-out letters
        ("I G N O R E") are looked for in texts up to LEET_WHOLE_CHARS only.
        """
        views: list[tuple[str, str]] = []
        norm = text.normalized
        present: Callable[[str], bool]
        if hyperscan_prefilter.ENABLED:
            # Not an early return: views that no probe decides may follow.
            gated = _ANY_VIEW.possible(norm)
            has_long_word = gated and _LONG_WORD.possible(norm) and _has_long_word(norm)
            has_hex_word = has_long_word and _HEX_WORD_24.possible(norm) and _has_hex_word_24(norm)

            def present(stem: str) -> bool:
                probe = _ANNOUNCED_STEMS.get(stem)
                return probe is not None and probe.search(norm) is not None
        else:
            words = word_index(text)
            long_words = [w for w in words if len(w) >= 20]
            has_long_word = bool(long_words)
            has_hex_word = any(len(w) >= 24 and _HEX_WORD_RE.fullmatch(w) for w in long_words)
            present = STEMS.present(words).__contains__  # a word starts with the stem (see _ANNOUNCED)
            gated = True
        if has_long_word:
            for m in itertools.islice(_B64_RE.finditer(text.raw), MAX_DECODED_CANDIDATES):
                token = m.group(0)
                # Plain words and identifiers are not base64 payloads: need mixed case or digits.
                if token.isalpha() and (token.islower() or token.isupper()):
                    continue
                decoded = _decode_base64(token)
                if decoded:
                    views.append(("base64", normalize(decoded)))
                elif _BASE32_TOKEN_RE.fullmatch(token) and (decoded := _decode_base32(token)):
                    views.append(("base32", normalize(decoded)))
        if has_hex_word:
            for m in itertools.islice(_hex_candidates(norm), MAX_DECODED_CANDIDATES):
                # "...load 4967..." matches from the word's trailing "ad": try the pieces too.
                for candidate in (m.group(0), *(p for p in m.group(0).split() if len(p) >= 24)):
                    decoded = _decode_hex(candidate)
                    if decoded:
                        views.append(("hex", normalize(decoded)))
                        break
        for encoding, stems, decode in _ANNOUNCED if gated else ():
            if any(present(s) for s in stems):
                spots = [norm.find(s) for s in stems if present(s)]
                segment = "\n".join(norm[max(0, p - 200) : p + ANNOUNCED_SPAN] for p in spots if p >= 0)
                views.append((encoding, decode(segment)))
        spaced = (
            [m.group(0) for m in itertools.islice(_SPACED_RE.finditer(norm), MAX_DECODED_CANDIDATES)]
            if gated and len(norm) <= LEET_WHOLE_CHARS and _SPACED_GATE.search(norm)
            else []
        )
        if spaced:
            # In place: "I G N O R E all previous instructions" reads as one sentence.
            views.append(("spaced", _SPACED_RE.sub(lambda m: _unspace(m.group(0)), norm, count=MAX_DECODED_CANDIDATES)))
        # Words split by characters that render as nothing: normalisation removed the
        # invisible ones ("ig\u200bnore" reads "ignore"), so read them as separators too
        # ("Ignore\u200ball\u200bprevious"); it kept the control characters (the rules'
        # \W reads them as separators), so read the text without them too ("ig\x00nore").
        if text_hides_in_token(text):
            separated = normalize(INVISIBLE_RE.sub(" ", text.raw))
            views.append(("separators", separated))
            if text_has_control(text):
                # both kinds: invisibles between the words, control characters inside
                # them ("Ig\x00nore\u200ball\u200bprevious")
                views.append(("separators", strip_control(separated)))
        # Marks on the letters ("ïgnörë", "Ign\u0336ore" with a combining stroke): a model
        # reads through them. (Up to LEET_WHOLE_CHARS, like the leetspeak reading: a
        # long text in a language with accents would be read twice.)
        if len(norm) <= LEET_WHOLE_CHARS and not norm.isascii():
            unmarked = strip_marks(norm)
            if unmarked != norm:
                views.append(("diacritics", unmarked))
        if not _CONTROL.possible(norm):
            # (normalisation keeps control characters: the answer for the raw text too,
            # which invisible_text then reads from the cache instead of searching)
            text.cache.setdefault(CONTROL_CACHE_KEY, False)
        elif text_has_control(text):
            views.append(("control", strip_control(norm)))
        joined = _joined_key_words(norm)
        if joined is not None:
            views.append(("split", joined))
        unglued = _unglued_key_words(norm, lambda: word_index(text))
        if unglued is not None:
            views.append(("glued", unglued))
        respelled = _respelled_key_words(norm, lambda: word_index(text))
        if respelled is not None:
            views.append(("misspelled", respelled))
        if len(norm) <= LEET_WHOLE_CHARS:
            # (whole: a leetspeak word without a spot of its own, "wh04m!", is read too)
            if _LEET_ANY.search(norm):
                views.append(("leetspeak", _unleet(norm)))
        elif _LEET_ANY.possible(norm):
            spots = _leet_spots_that_matter(norm, LEET_MAX_SPOTS)
            if spots:
                segment = "\n".join(norm[max(0, p - 150) : p + 150] for p in spots)
                views.append(("leetspeak", _unleet(segment)))
        for encoding, view in decoders.encoded_views(text, lambda: word_index(text)):
            # the NATO alphabet spells words with no space between them
            views.append((encoding, (_unglued_key_words(view) or view) if encoding == "nato" else view))
        return views

    def scan(self, text: ScanText, prompt: ScanText | None = None) -> ScanResult:
        return self._scan(text, anchored=True)

    def _scan(self, text: ScanText, anchored: bool) -> ScanResult:
        hits = _scan_plain(text.normalized, (lambda: word_index(text)) if anchored else None)
        weights: dict[str, float] = {}
        for h in hits:
            weights[h.rule.id] = max(weights.get(h.rule.id, 0.0), _hit_weight(h, text.normalized))
        threats = {h.rule.threat for h in hits}
        encodings: list[str] = []
        if self.decode:
            for encoding, view in self._decoded_views(text):
                for h in _scan_plain(view, (lambda view=view: _words(view)) if anchored else None):
                    key = f"{encoding}:{h.rule.id}"
                    if h.rule.id in weights or key in weights:
                        continue
                    weights[key] = min(1.0, _hit_weight(h, view) + ENCODED_BONUS)
                    threats.add(h.rule.threat)
                    if encoding not in encodings:
                        encodings.append(encoding)
        score = noisy_or(weights.values())
        reason = ("rules: " + ", ".join(sorted(weights))) if weights else ""
        details: dict[str, str | float | int | bool] = {"rules": len(weights)}
        if encodings:
            details["encodings"] = ",".join(encodings)
        return self.result(score, threats, reason, details=details)
