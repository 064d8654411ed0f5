; Same salience, same fact: the rule defined last is activated first, so the rule defined first fires first.
(deftemplate go (slot v))
(defrule z1 (go (v ?v)) => (printout t "z1" crlf))
(defrule y2 (go (v ?v)) => (printout t "y2" crlf))
(defrule x3 (go (v 1)) => (printout t "x3" crlf))
(defrule w4 (declare (salience 1)) (go) => (printout t "w4" crlf))
(defrule v5 (declare (salience 1)) (go (v ?)) => (printout t "v5" crlf))
;;; script
(assert (go (v 1)))
(agenda)
(assert (go (v 2)))
(agenda)
(run)
